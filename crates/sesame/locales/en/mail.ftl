# Emails: one group of messages per mail kind (`<kind>-subject`, `-intro`, `-action` for a mail
# with a link, `-outro`). Variables are the fields of the kind's message (README, "Email"):
# a message may name no other. Durations (`$expires_in`, `$locked_for`) arrive already in
# words, from the `duration-*` messages below.

mail-greeting = Hello,
# Above the bare link in the plain-text part: the action's words as a label.
mail-link-label = { $action }:

## Durations, by unit: `$count` is a number.

duration-second = { $count ->
    [one] { $count } second
   *[other] { $count } seconds
}
duration-minute = { $count ->
    [one] { $count } minute
   *[other] { $count } minutes
}
duration-hour = { $count ->
    [one] { $count } hour
   *[other] { $count } hours
}
duration-day = { $count ->
    [one] { $count } day
   *[other] { $count } days
}

## verify_email

verify_email-subject = Confirm your email address
verify_email-intro = Please confirm that { $email } is your email address.
verify_email-action = Confirm my address
verify_email-outro = The link works once and expires in { $expires_in }. If you did not create an account, ignore this message.

## password_reset

password_reset-subject = Reset your password
password_reset-intro = Someone asked to reset the password of the account { $email }.
password_reset-action = Choose a new password
password_reset-outro = The link works once and expires in { $expires_in }. If it was not you, ignore this message: your password stays as it is.

## invite

invite-subject = Your new account on { $site }
invite-intro = Welcome! An administrator of { $site } created an account for you with the address { $email }. To start using it, choose your password.
invite-action = Choose my password
invite-outro = The link works once and expires in { $expires_in }. If you did not expect this invitation, ignore this message: nobody can sign in to the account until a password is chosen.

## password_changed

password_changed-subject = Your password was changed
password_changed-intro = The password of the account { $email } was just changed, and other sessions were signed out.
password_changed-outro = If this was not you, reset your password at once and contact support.

## email_change_confirm

email_change_confirm-subject = Confirm your new email address
email_change_confirm-intro = To make { $new_email } the email address of your account, confirm it.
email_change_confirm-action = Confirm the new address
email_change_confirm-outro = The link works once and expires in { $expires_in }. If you did not ask for this, ignore this message.

## email_change_notice

email_change_notice-subject = A change of your email address was requested
email_change_notice-intro = Someone signed in to the account { $email } asked to change its email address to { $new_email }. Nothing changes until the new address is confirmed.
email_change_notice-outro = If this was not you, change your password at once.

## email_change_taken

email_change_taken-subject = Email address change not possible
email_change_taken-intro = Someone asked to move an account to the address { $email }, but an account with this address already exists, so nothing was changed.
email_change_taken-outro = If this was you, sign in with this address instead. Otherwise, ignore this message.

## account_locked

account_locked-subject = Sign-in to your account was paused
account_locked-intro = There were several failed attempts to sign in to the account { $email }, so sign-in is paused for { $locked_for }. After that you can sign in as usual; further failures pause it longer.
account_locked-outro = If these attempts were not yours, someone may be guessing your password: consider changing it to a long, unique one.

## factor_added (`$factor_kind`: `totp` = an authenticator app, `passkey`)

factor_added-subject = { $factor_kind ->
    [totp] An authenticator app was added to your account
    [passkey] A passkey was added to your account
   *[other] A second factor was added to your account
}
factor_added-intro = { $factor_kind ->
    [totp] The authenticator app “{ $factor_name }” was added to the account { $email } as a second factor for signing in.
    [passkey] The passkey “{ $factor_name }” was added to the account { $email }; it can now be used to sign in.
   *[other] The second factor “{ $factor_name }” was added to the account { $email }.
}
factor_added-outro = If this was not you, someone has access to your account: change your password at once, remove this factor and contact support.

## factor_removed (`$factor_kind` as above, or `all` when an administrator reset every second
## factor, `$factor_name` then empty; `$by_admin`: `yes` or `no`)

factor_removed-subject = { $factor_kind ->
    [all] The second factors of your account were reset
    [totp] An authenticator app was removed from your account
    [passkey] A passkey was removed from your account
   *[other] A second factor was removed from your account
}
factor_removed-intro = { $by_admin ->
    [yes] { $factor_kind ->
        [all] An administrator removed every second factor and recovery code from the account { $email }. Sign in to set up a new second factor.
        [totp] An administrator removed the authenticator app “{ $factor_name }” from the account { $email }.
        [passkey] An administrator removed the passkey “{ $factor_name }” from the account { $email }.
       *[other] An administrator removed the second factor “{ $factor_name }” from the account { $email }.
    }
   *[no] { $factor_kind ->
        [all] Every second factor and recovery code was removed from the account { $email }.
        [totp] The authenticator app “{ $factor_name }” was removed from the account { $email }; its codes are no longer accepted.
        [passkey] The passkey “{ $factor_name }” was removed from the account { $email }; it can no longer be used to sign in.
       *[other] The second factor “{ $factor_name }” was removed from the account { $email }.
    }
}
factor_removed-outro = { $by_admin ->
    [yes] If you did not expect this, contact your administrator.
   *[no] If this was not you, someone has access to your account: change your password at once, check its second factors and contact support.
}

## recovery_code_used (`$codes_left` is a number, but arrives as text: no plural forms)

recovery_code_used-subject = A recovery code was used for your account
recovery_code_used-intro = A recovery code was just used for the account { $email }, to sign in or to confirm it was you. Each code works only once; unused codes left: { $codes_left }.
recovery_code_used-outro = If few are left, sign in and generate a new set (the old codes then stop working). If this was not you, someone may know your password and one of your codes: change your password at once, generate new recovery codes and contact support.
