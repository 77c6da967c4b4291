# Les pages intégrées qu'ouvrent les liens envoyés par e-mail (crates/sesame/src/http/pages.rs).
# { $product } est SESAME_PRODUCT_NAME.

page-back-to-app = Retour à { $product }

## Un lien qui ne fonctionne plus, et un nouveau lien
page-invalid-title = Ce lien ne fonctionne pas
page-invalid-text = Le lien est incomplet, a déjà été utilisé, a été remplacé par un plus récent ou a expiré.
page-new-link-title = Obtenir un nouveau lien
page-new-link-offer = Saisissez votre adresse e-mail et nous vous enverrons un nouveau lien.
page-new-link-email = Adresse e-mail
page-new-link-button = M'envoyer un nouveau lien
page-new-link-bad-email = Ce n'est pas une adresse e-mail. Vérifiez-la et réessayez.
page-new-link-sent-title = Consultez votre boîte de réception
page-new-link-sent-text = Si { $email } correspond à un compte qui a besoin de ce lien, un nouveau lien est en route. Il peut mettre quelques minutes à arriver ; pensez à regarder aussi dans vos courriers indésirables.
page-new-link-change-email = Un lien confirmant une nouvelle adresse e-mail ne peut pas être renvoyé depuis cette page. Connectez-vous à { $product } et modifiez de nouveau votre adresse pour en recevoir un nouveau.
page-sign-in-to-app = Se connecter à { $product }

## Confirmer une adresse e-mail
page-verify-title = Confirmez votre adresse e-mail
page-verify-intro = Appuyez sur le bouton pour confirmer votre adresse e-mail.
page-verify-button = Confirmer mon adresse e-mail
page-verify-done-title = Adresse e-mail confirmée
page-verify-done-text = Merci : votre adresse e-mail est confirmée. Vous pouvez maintenant vous connecter.

## Confirmer un changement d'adresse e-mail
page-confirm-title = Confirmez votre nouvelle adresse e-mail
page-confirm-intro = Appuyez sur le bouton pour en faire l'adresse e-mail de votre compte.
page-confirm-button = Confirmer la nouvelle adresse
page-confirm-done-title = Adresse e-mail modifiée
page-confirm-done-text = Votre compte utilise désormais la nouvelle adresse.

## Réinitialiser un mot de passe
page-reset-title = Choisissez un nouveau mot de passe
page-reset-intro = Choisissez un nouveau mot de passe pour votre compte. Tous les appareils qui y sont connectés seront déconnectés.
page-reset-button = Enregistrer le nouveau mot de passe
page-reset-done-title = Mot de passe modifié
page-reset-done-text = Votre mot de passe est modifié et toutes les sessions ont été fermées. Vous pouvez vous connecter avec le nouveau mot de passe.

## Choisir le premier mot de passe depuis une invitation
page-set-title = Bienvenue — choisissez votre mot de passe
page-set-intro = Un compte a été créé pour vous. Choisissez le mot de passe avec lequel vous vous connecterez.
page-set-button = Enregistrer mon mot de passe
page-set-done-title = Votre mot de passe est enregistré
page-set-done-text = Bienvenue ! Vous pouvez maintenant vous connecter avec votre adresse e-mail et ce mot de passe.

## Le formulaire de mot de passe
page-new-password = Nouveau mot de passe
page-confirm-password = Confirmez le mot de passe
page-rules-heading = Votre mot de passe doit :
page-rule-too_short = comporter au moins { $min } caractères
page-rule-too_long = faire au plus { $max } octets (une lettre simple compte pour un octet ; rien n'est jamais tronqué)
page-rule-common_password = ne pas faire partie des mots de passe les plus courants
page-rule-contains_email = ne pas contenir votre adresse e-mail ni la partie qui précède le @
page-rule-contains_username = ne pas contenir votre nom d'utilisateur
page-rule-too_weak = être difficile à deviner : quelques mots sans rapport entre eux conviennent bien
page-passwords-differ = Les deux mots de passe sont différents. Saisissez le même mot de passe dans les deux champs.
page-error-too_short = Ce mot de passe est trop court : utilisez au moins { $min } caractères.
page-error-too_long = Ce mot de passe est trop long : utilisez au plus { $max } octets.
page-error-common_password = C'est l'un des mots de passe les plus courants, que les attaquants essaient en premier. Choisissez-en un autre, par exemple quelques mots sans rapport entre eux.
page-error-contains_email = Ce mot de passe contient votre adresse e-mail ou la partie qui précède le @. Choisissez-en un qui ne la contient pas.
page-error-contains_username = Ce mot de passe contient votre nom d'utilisateur. Choisissez-en un qui ne le contient pas.
page-error-too_weak = Ce mot de passe est trop facile à deviner. Ajoutez un ou deux mots ; les mots peu courants sont préférables.
page-error-password-other = Ce mot de passe n'est pas accepté. Choisissez-en un autre.

## Autres réponses
page-invalid-chars-title = Caractères non valides
page-invalid-chars-text = Le formulaire contenait des caractères de contrôle, qui ne sont pas autorisés. Revenez en arrière et réessayez.
page-bad-form-title = Ce formulaire est incomplet
page-bad-form-text = Certains champs manquent. Revenez en arrière et réessayez.
page-cross-site-title = Ce formulaire doit être envoyé depuis ce site
page-cross-site-text = Votre navigateur indique que le formulaire provient d'un autre site. Ouvrez de nouveau le lien reçu par e-mail et demandez un nouveau lien depuis cette page.
page-email-taken-title = Adresse déjà utilisée
page-email-taken-text = Un autre compte utilise désormais cette adresse : elle ne peut donc pas devenir la vôtre.
page-busy-title = Veuillez réessayer
page-busy-text = Le serveur est occupé. Veuillez réessayer dans un instant.
page-too-many-title = Trop de tentatives
page-too-many-text = Il y a eu trop de demandes depuis cet endroit ou pour cette adresse. Veuillez patienter environ { $minutes } min, puis réessayer.
page-error-title = Une erreur s'est produite
page-error-text = Une erreur s'est produite de notre côté. Veuillez réessayer plus tard.

## Clés d’accès (crates/sesame/src/http/pages/passkeys.rs et passkeys.js)
page-passkeys-title = Clés d’accès
page-passkeys-intro = Une clé d’accès vous permet de vous connecter avec votre empreinte digitale, votre visage ou le verrouillage d’écran de votre appareil au lieu d’un mot de passe. Connectez-vous pour en ajouter une à votre compte.
page-passkeys-email = Adresse e-mail
page-passkeys-password = Mot de passe
page-passkeys-sign-in-button = Se connecter
page-passkeys-use-passkey = Se connecter plutôt avec une clé d’accès
page-passkeys-code-intro = Votre compte est protégé par un second facteur.
page-passkeys-code = Code de votre application d’authentification, ou code de récupération
page-passkeys-code-button = Continuer
page-passkeys-add-intro = Donnez à la nouvelle clé d’accès un nom que vous reconnaîtrez, par exemple celui de l’appareil qui la contient.
page-passkeys-name = Nom de la clé d’accès
page-passkeys-add-button = Ajouter une clé d’accès
page-passkeys-recovery = Conservez ces codes de récupération en lieu sûr. Chacun vous permet de vous connecter une fois si vous perdez vos clés d’accès et vos autres facteurs. Ils ne sont affichés que maintenant.
page-passkeys-try-it = Essayez : connectez-vous avec votre clé d’accès
page-signin-title = Se connecter avec une clé d’accès
page-signin-intro = Utilisez une clé d’accès enregistrée sur cet appareil, sur votre téléphone ou sur une clé de sécurité. Aucun mot de passe n’est nécessaire.
page-signin-button = Se connecter avec une clé d’accès
page-signin-to-passkeys = Pas encore de clé d’accès ? Ajoutez-en une
page-passkey-noscript = Cette page a besoin de JavaScript pour utiliser les clés d’accès. Activez JavaScript pour ce site et rechargez la page.
page-passkey-working = Suivez les instructions de votre navigateur pour utiliser votre clé d’accès.
page-passkey-signed-in-as = Connecté en tant que { $email }.
page-passkey-added = La clé d’accès « { $name } » est ajoutée. Vous pouvez désormais vous connecter avec elle.
page-passkey-error-credentials = L’adresse e-mail ou le mot de passe est incorrect.
page-passkey-error-code = Ce code n’est pas le bon. Vérifiez-le et réessayez.
page-passkey-error-expired = Cela a pris trop de temps. Veuillez recommencer.
page-passkey-error-disabled = Ce compte est désactivé.
page-passkey-error-unverified = Confirmez d’abord votre adresse e-mail : suivez le lien que nous vous avons envoyé.
page-passkey-error-too-many = Il y a eu trop de tentatives. Veuillez patienter quelques minutes, puis réessayer.
page-passkey-error-busy = Le serveur est occupé. Veuillez réessayer dans un instant.
page-passkey-error-network = Le serveur est injoignable. Vérifiez votre connexion et réessayez.
page-passkey-error-signed-out = Votre connexion a expiré. Rechargez la page et connectez-vous de nouveau.
page-passkey-error-name = Ce nom n’est pas accepté. Choisissez un nom plus court, sans caractères spéciaux.
page-passkey-error-cancelled = La demande de clé d’accès a été annulée ou a expiré. Réessayez quand vous serez prêt.
page-passkey-error-exists = Cet appareil contient déjà une clé d’accès pour votre compte.
page-passkey-error-not-added = La clé d’accès n’a pas pu être ajoutée : elle est peut-être déjà enregistrée, ou la réponse du navigateur a été refusée. Réessayez ou utilisez un autre appareil.
page-passkey-error-origin = Les clés d’accès ne sont pas configurées pour cette adresse. Ouvrez cette page à l’adresse que votre administrateur vous a donnée.
page-passkey-error-unsupported = Ce navigateur ne peut pas utiliser de clés d’accès. Utilisez une version récente de Chrome, Edge, Firefox ou Safari.
page-passkey-error-insecure = Les clés d’accès ne fonctionnent que sur une connexion sécurisée (https). Ouvrez cette page en https.
page-passkey-error-unknown-passkey = Cette clé d’accès n’est pas connue ici. Connectez-vous avec votre mot de passe et ajoutez-la de nouveau.
page-passkey-error-other = Une erreur s’est produite. Veuillez réessayer plus tard.
