# Las páginas integradas que abren los enlaces enviados por correo (crates/sesame/src/http/pages.rs).
# { $product } es SESAME_PRODUCT_NAME.

page-back-to-app = Volver a { $product }

## Un enlace que ya no funciona, y uno nuevo
page-invalid-title = Este enlace no funciona
page-invalid-text = El enlace está incompleto, ya se utilizó, se sustituyó por uno más reciente o ha caducado.
page-new-link-title = Obtener un enlace nuevo
page-new-link-offer = Introduzca su dirección de correo electrónico y le enviaremos un enlace nuevo.
page-new-link-email = Dirección de correo electrónico
page-new-link-button = Enviarme un enlace nuevo
page-new-link-bad-email = Esto no es una dirección de correo electrónico. Revísela e inténtelo de nuevo.
page-new-link-sent-title = Revise su bandeja de entrada
page-new-link-sent-text = Si { $email } pertenece a una cuenta que necesita este enlace, le hemos enviado uno nuevo. Puede tardar unos minutos en llegar; revise también la carpeta de correo no deseado.
page-new-link-change-email = Un enlace que confirma una nueva dirección de correo no se puede reenviar desde aquí. Inicie sesión en { $product } y vuelva a cambiar su dirección para recibir uno nuevo.
page-sign-in-to-app = Iniciar sesión en { $product }

## Confirmar una dirección de correo
page-verify-title = Confirme su dirección de correo electrónico
page-verify-intro = Pulse el botón para confirmar su dirección de correo electrónico.
page-verify-button = Confirmar mi dirección de correo
page-verify-done-title = Dirección de correo confirmada
page-verify-done-text = Gracias: su dirección de correo electrónico está confirmada. Ya puede iniciar sesión.

## Confirmar un cambio de dirección de correo
page-confirm-title = Confirme su nueva dirección de correo electrónico
page-confirm-intro = Pulse el botón para que esta sea la dirección de correo de su cuenta.
page-confirm-button = Confirmar la nueva dirección
page-confirm-done-title = Dirección de correo cambiada
page-confirm-done-text = Su cuenta utiliza ahora la nueva dirección.

## Restablecer la contraseña
page-reset-title = Elija una contraseña nueva
page-reset-intro = Elija una contraseña nueva para su cuenta. Se cerrará la sesión en todos los dispositivos conectados a ella.
page-reset-button = Guardar la contraseña nueva
page-reset-done-title = Contraseña cambiada
page-reset-done-text = Su contraseña se ha cambiado y se han cerrado todas las sesiones. Ya puede iniciar sesión con la contraseña nueva.

## Elegir la primera contraseña desde una invitación
page-set-title = Le damos la bienvenida — elija su contraseña
page-set-intro = Se ha creado una cuenta para usted. Elija la contraseña con la que iniciará sesión.
page-set-button = Guardar mi contraseña
page-set-done-title = Su contraseña está guardada
page-set-done-text = Le damos la bienvenida. Ya puede iniciar sesión con su dirección de correo electrónico y esta contraseña.

## El formulario de contraseña
page-new-password = Contraseña nueva
page-confirm-password = Repita la contraseña
page-rules-heading = Su contraseña debe:
page-rule-too_short = tener al menos { $min } caracteres
page-rule-too_long = ocupar como máximo { $max } bytes (una letra sencilla ocupa un byte; nunca se recorta nada)
page-rule-common_password = no ser una de las contraseñas más utilizadas
page-rule-contains_email = no contener su dirección de correo ni la parte anterior a la @
page-rule-contains_username = no contener su nombre de usuario
page-rule-too_weak = ser difícil de adivinar: unas cuantas palabras sin relación entre sí funcionan bien
page-passwords-differ = Las dos contraseñas no coinciden. Escriba la misma contraseña en ambos campos.
page-error-too_short = Esta contraseña es demasiado corta: use al menos { $min } caracteres.
page-error-too_long = Esta contraseña es demasiado larga: use como máximo { $max } bytes.
page-error-common_password = Es una de las contraseñas más utilizadas, que los atacantes prueban primero. Elija otra, por ejemplo unas cuantas palabras sin relación entre sí.
page-error-contains_email = Esta contraseña contiene su dirección de correo o la parte anterior a la @. Elija una que no la contenga.
page-error-contains_username = Esta contraseña contiene su nombre de usuario. Elija una que no lo contenga.
page-error-too_weak = Esta contraseña es demasiado fácil de adivinar. Añada una o dos palabras más; las palabras poco comunes son mejores.
page-error-password-other = Esta contraseña no se acepta. Elija otra.

## Otras respuestas
page-invalid-chars-title = Caracteres no válidos
page-invalid-chars-text = El formulario contenía caracteres de control, que no están permitidos. Vuelva atrás e inténtelo de nuevo.
page-bad-form-title = Este formulario está incompleto
page-bad-form-text = Faltan algunos campos. Vuelva atrás e inténtelo de nuevo.
page-cross-site-title = Este formulario debe enviarse desde este sitio
page-cross-site-text = Su navegador indica que el formulario procede de otro sitio web. Vuelva a abrir el enlace de su correo y solicite allí un enlace nuevo.
page-email-taken-title = Dirección ya en uso
page-email-taken-text = Otra cuenta utiliza ahora esta dirección, por lo que no puede pasar a ser suya.
page-busy-title = Inténtelo de nuevo
page-busy-text = El servidor está ocupado. Inténtelo de nuevo dentro de un momento.
page-too-many-title = Demasiados intentos
page-too-many-text = Ha habido demasiadas solicitudes desde aquí o para esta dirección. Espere unos { $minutes } min e inténtelo de nuevo.
page-error-title = Algo ha salido mal
page-error-text = Algo ha salido mal por nuestra parte. Inténtelo de nuevo más tarde.

## Llaves de acceso (crates/sesame/src/http/pages/passkeys.rs y passkeys.js)
page-passkeys-title = Llaves de acceso
page-passkeys-intro = Una llave de acceso le permite iniciar sesión con su huella, su rostro o el bloqueo de pantalla de su dispositivo en lugar de con una contraseña. Inicie sesión para añadir una a su cuenta.
page-passkeys-email = Dirección de correo electrónico
page-passkeys-password = Contraseña
page-passkeys-sign-in-button = Iniciar sesión
page-passkeys-use-passkey = Iniciar sesión con una llave de acceso
page-passkeys-code-intro = Su cuenta está protegida con un segundo factor.
page-passkeys-code = Código de su aplicación de autenticación, o un código de recuperación
page-passkeys-code-button = Continuar
page-passkeys-add-intro = Dé a la nueva llave de acceso un nombre que reconozca, por ejemplo el del dispositivo en el que está.
page-passkeys-name = Nombre de la llave de acceso
page-passkeys-add-button = Añadir una llave de acceso
page-passkeys-recovery = Guarde estos códigos de recuperación en un lugar seguro. Cada uno le permite iniciar sesión una vez si pierde sus llaves de acceso y sus otros factores. Solo se muestran ahora.
page-passkeys-try-it = Pruébela: inicie sesión con su llave de acceso
page-signin-title = Iniciar sesión con una llave de acceso
page-signin-intro = Use una llave de acceso guardada en este dispositivo, en su teléfono o en una llave de seguridad. No necesita contraseña.
page-signin-button = Iniciar sesión con una llave de acceso
page-signin-to-passkeys = ¿Aún no tiene una llave de acceso? Añada una
page-passkey-noscript = Esta página necesita JavaScript para usar llaves de acceso. Active JavaScript para este sitio y vuelva a cargar la página.
page-passkey-working = Siga las instrucciones de su navegador para usar su llave de acceso.
page-passkey-signed-in-as = Ha iniciado sesión como { $email }.
page-passkey-added = Se ha añadido la llave de acceso «{ $name }». Ya puede iniciar sesión con ella.
page-passkey-error-credentials = La dirección de correo electrónico o la contraseña no son correctas.
page-passkey-error-code = Este código no es correcto. Revíselo e inténtelo de nuevo.
page-passkey-error-expired = Ha tardado demasiado. Vuelva a empezar.
page-passkey-error-disabled = Esta cuenta está desactivada.
page-passkey-error-unverified = Confirme primero su dirección de correo electrónico: siga el enlace que le enviamos.
page-passkey-error-too-many = Ha habido demasiados intentos. Espere unos minutos e inténtelo de nuevo.
page-passkey-error-busy = El servidor está ocupado. Inténtelo de nuevo en un momento.
page-passkey-error-network = No se ha podido contactar con el servidor. Compruebe su conexión e inténtelo de nuevo.
page-passkey-error-signed-out = Su sesión ha caducado. Vuelva a cargar la página e inicie sesión de nuevo.
page-passkey-error-name = Este nombre no se acepta. Elija un nombre más corto y sin caracteres especiales.
page-passkey-error-cancelled = La solicitud de la llave de acceso se canceló o caducó. Inténtelo de nuevo cuando esté listo.
page-passkey-error-exists = Este dispositivo ya tiene una llave de acceso para su cuenta.
page-passkey-error-not-added = No se ha podido añadir la llave de acceso: puede que ya esté registrada o que se haya rechazado la respuesta del navegador. Inténtelo de nuevo o use otro dispositivo.
page-passkey-error-origin = Las llaves de acceso no están configuradas para esta dirección. Abra esta página en la dirección que le indicó su administrador.
page-passkey-error-unsupported = Este navegador no puede usar llaves de acceso. Use una versión actual de Chrome, Edge, Firefox o Safari.
page-passkey-error-insecure = Las llaves de acceso solo funcionan con una conexión segura (https). Abra esta página mediante https.
page-passkey-error-unknown-passkey = Esta llave de acceso no se conoce aquí. Inicie sesión con su contraseña y vuelva a añadirla.
page-passkey-error-other = Algo ha salido mal. Inténtelo de nuevo más tarde.
