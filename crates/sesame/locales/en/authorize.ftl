# The hosted sign-in of the OpenID Connect provider (crates/sesame/src/http/pages/authorize.rs).
# { $client } is the name of the application the person signs in to.

authorize-sign-in-title = Sign in
authorize-sign-in-intro = Sign in to continue to { $client }.
authorize-login = Email address or username
authorize-password = Password
authorize-sign-in-button = Sign in
authorize-wrong-credentials = The email address, username or password is incorrect.
authorize-not-verified = Confirm your email address first: follow the link we sent you, then sign in.
authorize-too-many = Too many attempts. Wait a few minutes, then try again.
authorize-form-expired = This form has expired. Please try again.

authorize-second-factor-title = Second factor
authorize-second-factor-intro = Your account is protected by a second factor. Enter the code from your authenticator app, or one of your recovery codes, to continue to { $client }.
authorize-code = Code
authorize-code-button = Continue
authorize-wrong-code = This code was not accepted. Check it and try again.
authorize-start-again = This sign-in has expired. Please sign in again.

authorize-consent-title = Allow access?
authorize-consent-intro = { $client } asks to:
authorize-scope-openid = know who you are
authorize-scope-email = see your email address
authorize-scope-profile = see your name, username and language
authorize-scope-offline-access = stay connected to your account when you are away
authorize-consent-as = You are signed in as { $user }.
authorize-allow = Allow
authorize-deny = Deny

authorize-error-title = This sign-in link does not work
authorize-error-text = The application that sent you here asked for something it may not, so you cannot sign in this way. Go back to it and try again, or tell its developers.

logout-title = Sign out
logout-confirm-text = Do you want to sign out of { $product }?
logout-button = Sign out
logout-done-title = You are signed out
logout-done-text = You have signed out of { $product }. You can close this page.
logout-refused-title = This sign-out link does not work
logout-refused-text = The application that sent you here sent a sign-out request that is not valid, so nothing was changed. Go back to it and try again.
