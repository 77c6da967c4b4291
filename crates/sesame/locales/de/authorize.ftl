# Die gehostete Anmeldung des OpenID-Connect-Anbieters (crates/sesame/src/http/pages/authorize.rs).
# { $client } ist der Name der Anwendung, bei der sich die Person anmeldet.

authorize-sign-in-title = Anmelden
authorize-sign-in-intro = Melden Sie sich an, um zu { $client } zu gelangen.
authorize-login = E-Mail-Adresse oder Benutzername
authorize-password = Passwort
authorize-sign-in-button = Anmelden
authorize-wrong-credentials = E-Mail-Adresse, Benutzername oder Passwort ist falsch.
authorize-not-verified = Bestätigen Sie zuerst Ihre E-Mail-Adresse: Folgen Sie dem Link, den wir Ihnen geschickt haben, und melden Sie sich dann an.
authorize-too-many = Zu viele Versuche. Warten Sie einige Minuten und versuchen Sie es dann erneut.
authorize-form-expired = Dieses Formular ist abgelaufen. Bitte versuchen Sie es erneut.

authorize-second-factor-title = Zweiter Faktor
authorize-second-factor-intro = Ihr Konto ist durch einen zweiten Faktor geschützt. Geben Sie den Code aus Ihrer Authenticator-App oder einen Ihrer Wiederherstellungscodes ein, um zu { $client } zu gelangen.
authorize-code = Code
authorize-code-button = Weiter
authorize-wrong-code = Dieser Code wurde nicht akzeptiert. Prüfen Sie ihn und versuchen Sie es erneut.
authorize-start-again = Diese Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an.

authorize-consent-title = Zugriff erlauben?
authorize-consent-intro = { $client } möchte:
authorize-scope-openid = wissen, wer Sie sind
authorize-scope-email = Ihre E-Mail-Adresse sehen
authorize-scope-profile = Ihren Namen, Benutzernamen und Ihre Sprache sehen
authorize-scope-offline-access = mit Ihrem Konto verbunden bleiben, wenn Sie nicht da sind
authorize-consent-as = Sie sind angemeldet als { $user }.
authorize-allow = Erlauben
authorize-deny = Ablehnen

authorize-error-title = Dieser Anmeldelink funktioniert nicht
authorize-error-text = Die Anwendung, die Sie hierher geschickt hat, hat etwas angefragt, das sie nicht darf, daher können Sie sich so nicht anmelden. Kehren Sie zu ihr zurück und versuchen Sie es erneut, oder informieren Sie ihre Entwickler.

logout-title = Abmelden
logout-confirm-text = Möchten Sie sich von { $product } abmelden?
logout-button = Abmelden
logout-done-title = Sie sind abgemeldet
logout-done-text = Sie haben sich von { $product } abgemeldet. Sie können diese Seite schließen.
logout-refused-title = Dieser Abmeldelink funktioniert nicht
logout-refused-text = Die Anwendung, die Sie hierher geschickt hat, hat eine ungültige Abmeldeanfrage gesendet, daher wurde nichts geändert. Kehren Sie zu ihr zurück und versuchen Sie es erneut.
