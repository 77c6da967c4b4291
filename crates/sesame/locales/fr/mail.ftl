# E-mails (voir en/mail.ftl pour la structure).

mail-greeting = Bonjour,
mail-link-label = { $action } :

## Durées

duration-second = { $count ->
    [one] { $count } seconde
   *[other] { $count } secondes
}
duration-minute = { $count ->
    [one] { $count } minute
   *[other] { $count } minutes
}
duration-hour = { $count ->
    [one] { $count } heure
   *[other] { $count } heures
}
duration-day = { $count ->
    [one] { $count } jour
   *[other] { $count } jours
}

## verify_email

verify_email-subject = Confirmez votre adresse e-mail
verify_email-intro = Veuillez confirmer que { $email } est bien votre adresse e-mail.
verify_email-action = Confirmer mon adresse
verify_email-outro = Le lien ne fonctionne qu’une fois et expire dans { $expires_in }. Si vous n’avez pas créé de compte, ignorez ce message.

## password_reset

password_reset-subject = Réinitialisez votre mot de passe
password_reset-intro = Quelqu’un a demandé la réinitialisation du mot de passe du compte { $email }.
password_reset-action = Choisir un nouveau mot de passe
password_reset-outro = Le lien ne fonctionne qu’une fois et expire dans { $expires_in }. Si vous n’êtes pas à l’origine de cette demande, ignorez ce message : votre mot de passe reste inchangé.

## invite

invite-subject = Votre nouveau compte sur { $site }
invite-intro = Bienvenue ! Un administrateur du site { $site } a créé pour vous un compte avec l’adresse { $email }. Pour commencer à l’utiliser, choisissez votre mot de passe.
invite-action = Choisir mon mot de passe
invite-outro = Le lien ne fonctionne qu’une fois et expire dans { $expires_in }. Si vous n’attendiez pas cette invitation, ignorez ce message : personne ne peut se connecter au compte tant qu’aucun mot de passe n’a été choisi.

## password_changed

password_changed-subject = Votre mot de passe a été modifié
password_changed-intro = Le mot de passe du compte { $email } vient d’être modifié, et les autres sessions ont été déconnectées.
password_changed-outro = Si vous n’êtes pas à l’origine de ce changement, réinitialisez immédiatement votre mot de passe et contactez l’assistance.

## email_change_confirm

email_change_confirm-subject = Confirmez votre nouvelle adresse e-mail
email_change_confirm-intro = Pour que { $new_email } devienne l’adresse e-mail de votre compte, veuillez la confirmer.
email_change_confirm-action = Confirmer la nouvelle adresse
email_change_confirm-outro = Le lien ne fonctionne qu’une fois et expire dans { $expires_in }. Si vous n’avez rien demandé, ignorez ce message.

## email_change_notice

email_change_notice-subject = Un changement de votre adresse e-mail a été demandé
email_change_notice-intro = Une personne connectée au compte { $email } a demandé à remplacer son adresse e-mail par { $new_email }. Rien ne change tant que la nouvelle adresse n’est pas confirmée.
email_change_notice-outro = Si vous n’êtes pas à l’origine de cette demande, changez immédiatement votre mot de passe.

## email_change_taken

email_change_taken-subject = Changement d’adresse e-mail impossible
email_change_taken-intro = Quelqu’un a demandé à transférer un compte vers l’adresse { $email }, mais un compte utilise déjà cette adresse : rien n’a été modifié.
email_change_taken-outro = Si c’était vous, connectez-vous plutôt avec cette adresse. Sinon, ignorez ce message.

## account_locked

account_locked-subject = La connexion à votre compte a été suspendue
account_locked-intro = Plusieurs tentatives de connexion au compte { $email } ont échoué ; la connexion est donc suspendue pendant { $locked_for }. Vous pourrez ensuite vous connecter normalement ; de nouveaux échecs prolongeront la suspension.
account_locked-outro = Si ces tentatives ne venaient pas de vous, quelqu’un essaie peut-être de deviner votre mot de passe : pensez à le remplacer par un mot de passe long et unique.

## factor_added

factor_added-subject = { $factor_kind ->
    [totp] Une application d’authentification a été ajoutée à votre compte
    [passkey] Une clé d’accès a été ajoutée à votre compte
   *[other] Un second facteur a été ajouté à votre compte
}
factor_added-intro = { $factor_kind ->
    [totp] L’application d’authentification « { $factor_name } » a été ajoutée au compte { $email } comme second facteur de connexion.
    [passkey] La clé d’accès « { $factor_name } » a été ajoutée au compte { $email } ; elle permet désormais de s’y connecter.
   *[other] Le second facteur « { $factor_name } » a été ajouté au compte { $email }.
}
factor_added-outro = Si vous n’êtes pas à l’origine de cet ajout, quelqu’un a accès à votre compte : changez immédiatement votre mot de passe, supprimez ce facteur et contactez l’assistance.

## factor_removed

factor_removed-subject = { $factor_kind ->
    [all] Les seconds facteurs de votre compte ont été réinitialisés
    [totp] Une application d’authentification a été retirée de votre compte
    [passkey] Une clé d’accès a été retirée de votre compte
   *[other] Un second facteur a été retiré de votre compte
}
factor_removed-intro = { $by_admin ->
    [yes] { $factor_kind ->
        [all] Un administrateur a supprimé tous les seconds facteurs et codes de récupération du compte { $email }. Connectez-vous pour configurer un nouveau second facteur.
        [totp] Un administrateur a retiré l’application d’authentification « { $factor_name } » du compte { $email }.
        [passkey] Un administrateur a retiré la clé d’accès « { $factor_name } » du compte { $email }.
       *[other] Un administrateur a retiré le second facteur « { $factor_name } » du compte { $email }.
    }
   *[no] { $factor_kind ->
        [all] Tous les seconds facteurs et codes de récupération du compte { $email } ont été supprimés.
        [totp] L’application d’authentification « { $factor_name } » a été retirée du compte { $email } ; ses codes ne sont plus acceptés.
        [passkey] La clé d’accès « { $factor_name } » a été retirée du compte { $email } ; elle ne permet plus de s’y connecter.
       *[other] Le second facteur « { $factor_name } » a été retiré du compte { $email }.
    }
}
factor_removed-outro = { $by_admin ->
    [yes] Si vous ne vous y attendiez pas, contactez votre administrateur.
   *[no] Si vous n’êtes pas à l’origine de ce retrait, quelqu’un a accès à votre compte : changez immédiatement votre mot de passe, vérifiez les seconds facteurs de votre compte et contactez l’assistance.
}

## recovery_code_used

recovery_code_used-subject = Un code de récupération a été utilisé pour votre compte
recovery_code_used-intro = Un code de récupération vient d’être utilisé pour le compte { $email }, pour se connecter ou confirmer son identité. Chaque code ne sert qu’une fois ; codes encore inutilisés : { $codes_left }.
recovery_code_used-outro = S’il vous en reste peu, connectez-vous et générez-en de nouveaux (les anciens cesseront alors de fonctionner). Si vous n’êtes pas à l’origine de cette utilisation, quelqu’un connaît peut-être votre mot de passe et l’un de vos codes : changez immédiatement votre mot de passe, générez de nouveaux codes de récupération et contactez l’assistance.
