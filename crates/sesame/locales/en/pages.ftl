# The built-in pages that emailed links open (crates/sesame/src/http/pages.rs).
# { $product } is SESAME_PRODUCT_NAME.

page-back-to-app = Back to { $product }

## A link that no longer works, and asking for a new one
page-invalid-title = This link does not work
page-invalid-text = The link is incomplete, was already used, was replaced by a newer one, or has expired.
page-new-link-title = Get a new link
page-new-link-offer = Enter your email address and we will send you a new link.
page-new-link-email = Email address
page-new-link-button = Send me a new link
page-new-link-bad-email = This is not an email address. Check it and try again.
page-new-link-sent-title = Check your inbox
page-new-link-sent-text = If { $email } belongs to an account that needs this link, a new one is on its way. It can take a few minutes to arrive; look in your spam folder too.
page-new-link-change-email = A link that confirms a new email address cannot be sent again from here. Sign in to { $product } and change your address again to get a new one.
page-sign-in-to-app = Sign in to { $product }

## Verify an email address
page-verify-title = Confirm your email address
page-verify-intro = Press the button to confirm your email address.
page-verify-button = Confirm my email address
page-verify-done-title = Email address confirmed
page-verify-done-text = Thank you: your email address is confirmed. You can sign in now.

## Confirm a change of email address
page-confirm-title = Confirm your new email address
page-confirm-intro = Press the button to make this your account's email address.
page-confirm-button = Confirm the new address
page-confirm-done-title = Email address changed
page-confirm-done-text = Your account now uses the new address.

## Reset a password
page-reset-title = Choose a new password
page-reset-intro = Choose a new password for your account. Every device signed in to it will be signed out.
page-reset-button = Set the new password
page-reset-done-title = Password changed
page-reset-done-text = Your password is changed and every session was signed out. You can sign in with the new password.

## Choose the first password from an invitation
page-set-title = Welcome — choose your password
page-set-intro = An account was created for you. Choose the password you will sign in with.
page-set-button = Save my password
page-set-done-title = Your password is set
page-set-done-text = Welcome aboard. You can now sign in with your email address and this password.

## The password form
page-new-password = New password
page-confirm-password = Repeat the password
page-rules-heading = Your password must:
page-rule-too_short = have at least { $min } characters
page-rule-too_long = be at most { $max } bytes long (a plain letter is one byte; nothing is ever cut off)
page-rule-common_password = not be one of the most commonly used passwords
page-rule-contains_email = not contain your email address or the part before the @
page-rule-contains_username = not contain your username
page-rule-too_weak = be hard to guess: a few unrelated words work well
page-passwords-differ = The two passwords differ. Type the same password in both fields.
page-error-too_short = This password is too short: use at least { $min } characters.
page-error-too_long = This password is too long: use at most { $max } bytes.
page-error-common_password = This is one of the most commonly used passwords, which attackers try first. Choose another, for example a few unrelated words.
page-error-contains_email = This password contains your email address or the part before the @. Choose one that does not.
page-error-contains_username = This password contains your username. Choose one that does not.
page-error-too_weak = This password is too easy to guess. Add another word or two; uncommon words are better.
page-error-password-other = This password is not accepted. Choose another.

## Other answers
page-invalid-chars-title = Invalid characters
page-invalid-chars-text = The form contained control characters, which are not allowed. Go back and try again.
page-bad-form-title = This form is incomplete
page-bad-form-text = Some of its fields are missing. Go back and try again.
page-cross-site-title = This form must be sent from this site
page-cross-site-text = Your browser says the form came from another website. Open the link from your email again and ask for a new link there.
page-email-taken-title = Address already in use
page-email-taken-text = Another account uses this address now, so it cannot become yours.
page-busy-title = Please try again
page-busy-text = The server is busy. Please try again in a moment.
page-too-many-title = Too many attempts
page-too-many-text = There were too many requests from here or for this address. Please wait about { $minutes } min and try again.
page-error-title = Something went wrong
page-error-text = Something went wrong on our side. Please try again later.

## Passkeys (crates/sesame/src/http/pages/passkeys.rs and passkeys.js)
page-passkeys-title = Passkeys
page-passkeys-intro = A passkey lets you sign in with your fingerprint, your face or your device's screen lock instead of a password. Sign in to add one to your account.
page-passkeys-email = Email address
page-passkeys-password = Password
page-passkeys-sign-in-button = Sign in
page-passkeys-use-passkey = Sign in with a passkey instead
page-passkeys-code-intro = Your account is protected by a second factor.
page-passkeys-code = Code from your authenticator app, or a recovery code
page-passkeys-code-button = Continue
page-passkeys-add-intro = Give the new passkey a name you will recognise, such as the device it is on.
page-passkeys-name = Name of the passkey
page-passkeys-add-button = Add a passkey
page-passkeys-recovery = Keep these recovery codes somewhere safe. Each one lets you sign in once if you lose your passkeys and other factors. They are shown only now.
page-passkeys-try-it = Try it: sign in with your passkey
page-signin-title = Sign in with a passkey
page-signin-intro = Use a passkey saved on this device, on your phone or on a security key. No password needed.
page-signin-button = Sign in with a passkey
page-signin-to-passkeys = No passkey yet? Add one
page-passkey-noscript = This page needs JavaScript to use passkeys. Turn JavaScript on for this site and reload the page.
page-passkey-working = Follow your browser's instructions to use your passkey.
page-passkey-signed-in-as = Signed in as { $email }.
page-passkey-added = The passkey “{ $name }” is added. You can now sign in with it.
page-passkey-error-credentials = The email address or the password is wrong.
page-passkey-error-code = This code is not right. Check it and try again.
page-passkey-error-expired = This took too long. Please start again.
page-passkey-error-disabled = This account is disabled.
page-passkey-error-unverified = Confirm your email address first: follow the link we emailed you.
page-passkey-error-too-many = There were too many attempts. Please wait a few minutes and try again.
page-passkey-error-busy = The server is busy. Please try again in a moment.
page-passkey-error-network = The server could not be reached. Check your connection and try again.
page-passkey-error-signed-out = Your sign-in has expired. Reload the page and sign in again.
page-passkey-error-name = This name is not accepted. Choose a shorter name without special characters.
page-passkey-error-cancelled = The passkey request was cancelled or timed out. Try again when you are ready.
page-passkey-error-exists = This device already holds a passkey for your account.
page-passkey-error-not-added = The passkey could not be added: it may be registered already, or the browser's answer was refused. Try again, or use another device.
page-passkey-error-origin = Passkeys are not set up for this address. Open this page at the address your administrator gave you.
page-passkey-error-unsupported = This browser cannot use passkeys. Use a current version of Chrome, Edge, Firefox or Safari.
page-passkey-error-insecure = Passkeys work only on a secure (https) connection. Open this page over https.
page-passkey-error-unknown-passkey = This passkey is not known here. Sign in with your password and add it again.
page-passkey-error-other = Something went wrong. Please try again later.
