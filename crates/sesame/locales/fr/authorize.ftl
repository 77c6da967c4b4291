# La connexion hébergée du fournisseur OpenID Connect (crates/sesame/src/http/pages/authorize.rs).
# { $client } est le nom de l’application à laquelle la personne se connecte.

authorize-sign-in-title = Se connecter
authorize-sign-in-intro = Connectez-vous pour continuer vers { $client }.
authorize-login = Adresse e-mail ou nom d’utilisateur
authorize-password = Mot de passe
authorize-sign-in-button = Se connecter
authorize-wrong-credentials = L’adresse e-mail, le nom d’utilisateur ou le mot de passe est incorrect.
authorize-not-verified = Confirmez d’abord votre adresse e-mail : suivez le lien que nous vous avons envoyé, puis connectez-vous.
authorize-too-many = Trop de tentatives. Patientez quelques minutes, puis réessayez.
authorize-form-expired = Ce formulaire a expiré. Veuillez réessayer.

authorize-second-factor-title = Second facteur
authorize-second-factor-intro = Votre compte est protégé par un second facteur. Saisissez le code de votre application d’authentification, ou l’un de vos codes de récupération, pour continuer vers { $client }.
authorize-code = Code
authorize-code-button = Continuer
authorize-wrong-code = Ce code n’a pas été accepté. Vérifiez-le et réessayez.
authorize-start-again = Cette connexion a expiré. Veuillez vous reconnecter.

authorize-consent-title = Autoriser l’accès ?
authorize-consent-intro = { $client } demande à :
authorize-scope-openid = savoir qui vous êtes
authorize-scope-email = voir votre adresse e-mail
authorize-scope-profile = voir votre nom, votre nom d’utilisateur et votre langue
authorize-scope-offline-access = rester connecté à votre compte en votre absence
authorize-consent-as = Vous êtes connecté en tant que { $user }.
authorize-allow = Autoriser
authorize-deny = Refuser

authorize-error-title = Ce lien de connexion ne fonctionne pas
authorize-error-text = L’application qui vous a envoyé ici a demandé quelque chose qui ne lui est pas permis : vous ne pouvez donc pas vous connecter ainsi. Retournez-y et réessayez, ou prévenez ses développeurs.

logout-title = Se déconnecter
logout-confirm-text = Voulez-vous vous déconnecter de { $product } ?
logout-button = Se déconnecter
logout-done-title = Vous êtes déconnecté
logout-done-text = Vous vous êtes déconnecté de { $product }. Vous pouvez fermer cette page.
logout-refused-title = Ce lien de déconnexion ne fonctionne pas
logout-refused-text = L’application qui vous a envoyé ici a transmis une demande de déconnexion non valide : rien n’a été modifié. Retournez-y et réessayez.
