# Die eingebauten Seiten, die Links aus E-Mails öffnen (crates/sesame/src/http/pages.rs).
# { $product } ist SESAME_PRODUCT_NAME.

page-back-to-app = Zurück zu { $product }

## Ein Link, der nicht mehr funktioniert, und ein neuer
page-invalid-title = Dieser Link funktioniert nicht
page-invalid-text = Der Link ist unvollständig, wurde bereits verwendet, durch einen neueren ersetzt oder ist abgelaufen.
page-new-link-title = Neuen Link anfordern
page-new-link-offer = Geben Sie Ihre E-Mail-Adresse ein, dann senden wir Ihnen einen neuen Link.
page-new-link-email = E-Mail-Adresse
page-new-link-button = Neuen Link senden
page-new-link-bad-email = Das ist keine E-Mail-Adresse. Bitte prüfen Sie sie und versuchen Sie es erneut.
page-new-link-sent-title = Sehen Sie in Ihr Postfach
page-new-link-sent-text = Falls { $email } zu einem Konto gehört, das diesen Link braucht, ist ein neuer unterwegs. Es kann einige Minuten dauern, bis er ankommt; sehen Sie auch im Spam-Ordner nach.
page-new-link-change-email = Ein Link zur Bestätigung einer neuen E-Mail-Adresse kann hier nicht erneut gesendet werden. Melden Sie sich bei { $product } an und ändern Sie Ihre Adresse noch einmal, um einen neuen zu erhalten.
page-sign-in-to-app = Bei { $product } anmelden

## E-Mail-Adresse bestätigen
page-verify-title = Bestätigen Sie Ihre E-Mail-Adresse
page-verify-intro = Klicken Sie auf die Schaltfläche, um Ihre E-Mail-Adresse zu bestätigen.
page-verify-button = E-Mail-Adresse bestätigen
page-verify-done-title = E-Mail-Adresse bestätigt
page-verify-done-text = Vielen Dank: Ihre E-Mail-Adresse ist bestätigt. Sie können sich jetzt anmelden.

## Geänderte E-Mail-Adresse bestätigen
page-confirm-title = Bestätigen Sie Ihre neue E-Mail-Adresse
page-confirm-intro = Klicken Sie auf die Schaltfläche, um diese Adresse zur E-Mail-Adresse Ihres Kontos zu machen.
page-confirm-button = Neue Adresse bestätigen
page-confirm-done-title = E-Mail-Adresse geändert
page-confirm-done-text = Ihr Konto verwendet jetzt die neue Adresse.

## Passwort zurücksetzen
page-reset-title = Wählen Sie ein neues Passwort
page-reset-intro = Wählen Sie ein neues Passwort für Ihr Konto. Alle damit angemeldeten Geräte werden abgemeldet.
page-reset-button = Neues Passwort speichern
page-reset-done-title = Passwort geändert
page-reset-done-text = Ihr Passwort ist geändert, und alle Sitzungen wurden beendet. Sie können sich mit dem neuen Passwort anmelden.

## Erstes Passwort aus einer Einladung
page-set-title = Willkommen — wählen Sie Ihr Passwort
page-set-intro = Für Sie wurde ein Konto angelegt. Wählen Sie das Passwort, mit dem Sie sich anmelden werden.
page-set-button = Passwort speichern
page-set-done-title = Ihr Passwort ist gespeichert
page-set-done-text = Willkommen! Sie können sich jetzt mit Ihrer E-Mail-Adresse und diesem Passwort anmelden.

## Das Passwortformular
page-new-password = Neues Passwort
page-confirm-password = Passwort wiederholen
page-rules-heading = Anforderungen an Ihr Passwort:
page-rule-too_short = mindestens { $min } Zeichen
page-rule-too_long = höchstens { $max } Byte (ein einfacher Buchstabe ist ein Byte; es wird nie etwas abgeschnitten)
page-rule-common_password = keines der am häufigsten verwendeten Passwörter
page-rule-contains_email = ohne Ihre E-Mail-Adresse und ohne den Teil vor dem @
page-rule-contains_username = ohne Ihren Benutzernamen
page-rule-too_weak = schwer zu erraten: einige voneinander unabhängige Wörter eignen sich gut
page-passwords-differ = Die beiden Passwörter stimmen nicht überein. Geben Sie in beide Felder dasselbe Passwort ein.
page-error-too_short = Dieses Passwort ist zu kurz: Verwenden Sie mindestens { $min } Zeichen.
page-error-too_long = Dieses Passwort ist zu lang: Verwenden Sie höchstens { $max } Byte.
page-error-common_password = Dies ist eines der am häufigsten verwendeten Passwörter, die Angreifer zuerst ausprobieren. Wählen Sie ein anderes, zum Beispiel einige voneinander unabhängige Wörter.
page-error-contains_email = Dieses Passwort enthält Ihre E-Mail-Adresse oder den Teil vor dem @. Wählen Sie eines, das sie nicht enthält.
page-error-contains_username = Dieses Passwort enthält Ihren Benutzernamen. Wählen Sie eines, das ihn nicht enthält.
page-error-too_weak = Dieses Passwort ist zu leicht zu erraten. Fügen Sie ein oder zwei weitere Wörter hinzu; ungewöhnliche Wörter sind besser.
page-error-password-other = Dieses Passwort wird nicht akzeptiert. Wählen Sie ein anderes.

## Weitere Antworten
page-invalid-chars-title = Ungültige Zeichen
page-invalid-chars-text = Das Formular enthielt Steuerzeichen, die nicht erlaubt sind. Gehen Sie zurück und versuchen Sie es erneut.
page-bad-form-title = Dieses Formular ist unvollständig
page-bad-form-text = Einige Felder fehlen. Gehen Sie zurück und versuchen Sie es erneut.
page-cross-site-title = Dieses Formular muss von dieser Website gesendet werden
page-cross-site-text = Ihr Browser meldet, dass das Formular von einer anderen Website stammt. Öffnen Sie den Link aus Ihrer E-Mail erneut und fordern Sie dort einen neuen Link an.
page-email-taken-title = Adresse bereits vergeben
page-email-taken-text = Ein anderes Konto verwendet diese Adresse inzwischen, daher kann sie nicht Ihre werden.
page-busy-title = Bitte versuchen Sie es erneut
page-busy-text = Der Server ist ausgelastet. Bitte versuchen Sie es gleich noch einmal.
page-too-many-title = Zu viele Versuche
page-too-many-text = Es gab zu viele Anfragen von hier oder für diese Adresse. Bitte warten Sie etwa { $minutes } Min. und versuchen Sie es dann erneut.
page-error-title = Etwas ist schiefgegangen
page-error-text = Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es später erneut.

## Passkeys (crates/sesame/src/http/pages/passkeys.rs und passkeys.js)
page-passkeys-title = Passkeys
page-passkeys-intro = Mit einem Passkey melden Sie sich per Fingerabdruck, Gesichtserkennung oder Bildschirmsperre Ihres Geräts an statt mit einem Passwort. Melden Sie sich an, um Ihrem Konto einen hinzuzufügen.
page-passkeys-email = E-Mail-Adresse
page-passkeys-password = Passwort
page-passkeys-sign-in-button = Anmelden
page-passkeys-use-passkey = Stattdessen mit einem Passkey anmelden
page-passkeys-code-intro = Ihr Konto ist mit einem zweiten Faktor geschützt.
page-passkeys-code = Code aus Ihrer Authenticator-App oder ein Wiederherstellungscode
page-passkeys-code-button = Weiter
page-passkeys-add-intro = Geben Sie dem neuen Passkey einen Namen, an dem Sie ihn wiedererkennen, etwa den des Geräts, auf dem er liegt.
page-passkeys-name = Name des Passkeys
page-passkeys-add-button = Passkey hinzufügen
page-passkeys-recovery = Bewahren Sie diese Wiederherstellungscodes sicher auf. Mit jedem können Sie sich einmal anmelden, falls Sie Ihre Passkeys und anderen Faktoren verlieren. Sie werden nur jetzt angezeigt.
page-passkeys-try-it = Probieren Sie es aus: mit Ihrem Passkey anmelden
page-signin-title = Mit einem Passkey anmelden
page-signin-intro = Verwenden Sie einen Passkey auf diesem Gerät, auf Ihrem Smartphone oder auf einem Sicherheitsschlüssel. Kein Passwort nötig.
page-signin-button = Mit einem Passkey anmelden
page-signin-to-passkeys = Noch kein Passkey? Fügen Sie einen hinzu
page-passkey-noscript = Diese Seite braucht JavaScript, um Passkeys zu verwenden. Schalten Sie JavaScript für diese Website ein und laden Sie die Seite neu.
page-passkey-working = Folgen Sie den Anweisungen Ihres Browsers, um Ihren Passkey zu verwenden.
page-passkey-signed-in-as = Angemeldet als { $email }.
page-passkey-added = Der Passkey „{ $name }“ ist hinzugefügt. Sie können sich jetzt damit anmelden.
page-passkey-error-credentials = Die E-Mail-Adresse oder das Passwort ist falsch.
page-passkey-error-code = Dieser Code stimmt nicht. Prüfen Sie ihn und versuchen Sie es erneut.
page-passkey-error-expired = Das hat zu lange gedauert. Bitte beginnen Sie von vorn.
page-passkey-error-disabled = Dieses Konto ist deaktiviert.
page-passkey-error-unverified = Bestätigen Sie zuerst Ihre E-Mail-Adresse: Folgen Sie dem Link, den wir Ihnen gesendet haben.
page-passkey-error-too-many = Es gab zu viele Versuche. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut.
page-passkey-error-busy = Der Server ist ausgelastet. Bitte versuchen Sie es gleich noch einmal.
page-passkey-error-network = Der Server ist nicht erreichbar. Prüfen Sie Ihre Verbindung und versuchen Sie es erneut.
page-passkey-error-signed-out = Ihre Anmeldung ist abgelaufen. Laden Sie die Seite neu und melden Sie sich erneut an.
page-passkey-error-name = Dieser Name wird nicht angenommen. Wählen Sie einen kürzeren Namen ohne Sonderzeichen.
page-passkey-error-cancelled = Die Passkey-Anfrage wurde abgebrochen oder ist abgelaufen. Versuchen Sie es erneut, wenn Sie bereit sind.
page-passkey-error-exists = Auf diesem Gerät liegt bereits ein Passkey für Ihr Konto.
page-passkey-error-not-added = Der Passkey konnte nicht hinzugefügt werden: Er ist vielleicht schon registriert, oder die Antwort des Browsers wurde abgelehnt. Versuchen Sie es erneut oder verwenden Sie ein anderes Gerät.
page-passkey-error-origin = Für diese Adresse sind keine Passkeys eingerichtet. Öffnen Sie diese Seite unter der Adresse, die Ihnen Ihr Administrator genannt hat.
page-passkey-error-unsupported = Dieser Browser kann keine Passkeys verwenden. Verwenden Sie eine aktuelle Version von Chrome, Edge, Firefox oder Safari.
page-passkey-error-insecure = Passkeys funktionieren nur über eine sichere (https-)Verbindung. Öffnen Sie diese Seite über https.
page-passkey-error-unknown-passkey = Dieser Passkey ist hier nicht bekannt. Melden Sie sich mit Ihrem Passwort an und fügen Sie ihn erneut hinzu.
page-passkey-error-other = Etwas ist schiefgegangen. Bitte versuchen Sie es später erneut.
