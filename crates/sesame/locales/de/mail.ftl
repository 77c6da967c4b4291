# E-Mails (siehe en/mail.ftl für den Aufbau).

mail-greeting = Guten Tag,
mail-link-label = { $action }:

## Zeitspannen

duration-second = { $count ->
    [one] { $count } Sekunde
   *[other] { $count } Sekunden
}
duration-minute = { $count ->
    [one] { $count } Minute
   *[other] { $count } Minuten
}
duration-hour = { $count ->
    [one] { $count } Stunde
   *[other] { $count } Stunden
}
duration-day = { $count ->
    [one] { $count } Tag
   *[other] { $count } Tage
}

## verify_email

verify_email-subject = Bestätigen Sie Ihre E-Mail-Adresse
verify_email-intro = Bitte bestätigen Sie, dass { $email } Ihre E-Mail-Adresse ist.
verify_email-action = Adresse bestätigen
verify_email-outro = Der Link kann einmal verwendet werden und ist { $expires_in } gültig. Wenn Sie kein Konto angelegt haben, ignorieren Sie diese Nachricht.

## password_reset

password_reset-subject = Setzen Sie Ihr Passwort zurück
password_reset-intro = Jemand hat angefordert, das Passwort des Kontos { $email } zurückzusetzen.
password_reset-action = Neues Passwort wählen
password_reset-outro = Der Link kann einmal verwendet werden und ist { $expires_in } gültig. Wenn Sie das nicht waren, ignorieren Sie diese Nachricht: Ihr Passwort bleibt unverändert.

## invite

invite-subject = Ihr neues Konto bei { $site }
invite-intro = Willkommen! Ein Administrator von { $site } hat für Sie ein Konto mit der Adresse { $email } angelegt. Wählen Sie Ihr Passwort, um es zu nutzen.
invite-action = Mein Passwort wählen
invite-outro = Der Link kann einmal verwendet werden und ist { $expires_in } gültig. Wenn Sie diese Einladung nicht erwartet haben, ignorieren Sie diese Nachricht: Niemand kann sich anmelden, bevor ein Passwort gewählt wurde.

## password_changed

password_changed-subject = Ihr Passwort wurde geändert
password_changed-intro = Das Passwort des Kontos { $email } wurde soeben geändert, und alle anderen Sitzungen wurden abgemeldet.
password_changed-outro = Wenn Sie das nicht waren, setzen Sie Ihr Passwort sofort zurück und wenden Sie sich an den Support.

## email_change_confirm

email_change_confirm-subject = Bestätigen Sie Ihre neue E-Mail-Adresse
email_change_confirm-intro = Bestätigen Sie { $new_email }, um sie zur E-Mail-Adresse Ihres Kontos zu machen.
email_change_confirm-action = Neue Adresse bestätigen
email_change_confirm-outro = Der Link kann einmal verwendet werden und ist { $expires_in } gültig. Wenn Sie das nicht angefordert haben, ignorieren Sie diese Nachricht.

## email_change_notice

email_change_notice-subject = Eine Änderung Ihrer E-Mail-Adresse wurde angefordert
email_change_notice-intro = Jemand, der beim Konto { $email } angemeldet ist, möchte dessen E-Mail-Adresse in { $new_email } ändern. Bis die neue Adresse bestätigt ist, ändert sich nichts.
email_change_notice-outro = Wenn Sie das nicht waren, ändern Sie sofort Ihr Passwort.

## email_change_taken

email_change_taken-subject = Änderung der E-Mail-Adresse nicht möglich
email_change_taken-intro = Jemand wollte ein Konto auf die Adresse { $email } umstellen, aber es gibt bereits ein Konto mit dieser Adresse. Es wurde nichts geändert.
email_change_taken-outro = Wenn Sie das waren, melden Sie sich stattdessen mit dieser Adresse an. Andernfalls ignorieren Sie diese Nachricht.

## account_locked

account_locked-subject = Die Anmeldung bei Ihrem Konto wurde pausiert
account_locked-intro = Es gab mehrere fehlgeschlagene Anmeldeversuche beim Konto { $email }, daher ist die Anmeldung für { $locked_for } pausiert. Danach können Sie sich wie gewohnt anmelden; weitere Fehlversuche verlängern die Pause.
account_locked-outro = Wenn diese Versuche nicht von Ihnen stammen, versucht womöglich jemand, Ihr Passwort zu erraten: Ändern Sie es am besten in ein langes, nur hier verwendetes Passwort.

## factor_added

factor_added-subject = { $factor_kind ->
    [totp] Ihrem Konto wurde eine Authenticator-App hinzugefügt
    [passkey] Ihrem Konto wurde ein Passkey hinzugefügt
   *[other] Ihrem Konto wurde ein zweiter Faktor hinzugefügt
}
factor_added-intro = { $factor_kind ->
    [totp] Dem Konto { $email } wurde die Authenticator-App „{ $factor_name }“ als zweiter Faktor für die Anmeldung hinzugefügt.
    [passkey] Dem Konto { $email } wurde der Passkey „{ $factor_name }“ hinzugefügt; mit ihm kann man sich nun anmelden.
   *[other] Dem Konto { $email } wurde der zweite Faktor „{ $factor_name }“ hinzugefügt.
}
factor_added-outro = Wenn Sie das nicht waren, hat jemand Zugriff auf Ihr Konto: Ändern Sie sofort Ihr Passwort, entfernen Sie diesen Faktor und wenden Sie sich an den Support.

## factor_removed

factor_removed-subject = { $factor_kind ->
    [all] Die zweiten Faktoren Ihres Kontos wurden zurückgesetzt
    [totp] Von Ihrem Konto wurde eine Authenticator-App entfernt
    [passkey] Von Ihrem Konto wurde ein Passkey entfernt
   *[other] Von Ihrem Konto wurde ein zweiter Faktor entfernt
}
factor_removed-intro = { $by_admin ->
    [yes] { $factor_kind ->
        [all] Ein Administrator hat alle zweiten Faktoren und Wiederherstellungscodes des Kontos { $email } entfernt. Melden Sie sich an, um einen neuen zweiten Faktor einzurichten.
        [totp] Ein Administrator hat die Authenticator-App „{ $factor_name }“ vom Konto { $email } entfernt.
        [passkey] Ein Administrator hat den Passkey „{ $factor_name }“ vom Konto { $email } entfernt.
       *[other] Ein Administrator hat den zweiten Faktor „{ $factor_name }“ vom Konto { $email } entfernt.
    }
   *[no] { $factor_kind ->
        [all] Alle zweiten Faktoren und Wiederherstellungscodes des Kontos { $email } wurden entfernt.
        [totp] Die Authenticator-App „{ $factor_name }“ wurde vom Konto { $email } entfernt; ihre Codes werden nicht mehr angenommen.
        [passkey] Der Passkey „{ $factor_name }“ wurde vom Konto { $email } entfernt; mit ihm kann man sich nicht mehr anmelden.
       *[other] Der zweite Faktor „{ $factor_name }“ wurde vom Konto { $email } entfernt.
    }
}
factor_removed-outro = { $by_admin ->
    [yes] Wenn Sie damit nicht gerechnet haben, wenden Sie sich an Ihren Administrator.
   *[no] Wenn Sie das nicht waren, hat jemand Zugriff auf Ihr Konto: Ändern Sie sofort Ihr Passwort, prüfen Sie die zweiten Faktoren Ihres Kontos und wenden Sie sich an den Support.
}

## recovery_code_used

recovery_code_used-subject = Für Ihr Konto wurde ein Wiederherstellungscode verwendet
recovery_code_used-intro = Für das Konto { $email } wurde soeben ein Wiederherstellungscode verwendet, um sich anzumelden oder die eigene Identität zu bestätigen. Jeder Code gilt nur einmal; noch unbenutzte Codes: { $codes_left }.
recovery_code_used-outro = Wenn nur noch wenige übrig sind, melden Sie sich an und erzeugen Sie neue Codes (die alten werden damit ungültig). Wenn Sie das nicht waren, kennt womöglich jemand Ihr Passwort und einen Ihrer Codes: Ändern Sie sofort Ihr Passwort, erzeugen Sie neue Wiederherstellungscodes und wenden Sie sich an den Support.
