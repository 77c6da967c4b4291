# El inicio de sesión alojado del proveedor OpenID Connect (crates/sesame/src/http/pages/authorize.rs).
# { $client } es el nombre de la aplicación en la que la persona inicia sesión.

authorize-sign-in-title = Iniciar sesión
authorize-sign-in-intro = Inicia sesión para continuar a { $client }.
authorize-login = Correo electrónico o nombre de usuario
authorize-password = Contraseña
authorize-sign-in-button = Iniciar sesión
authorize-wrong-credentials = El correo electrónico, el nombre de usuario o la contraseña no son correctos.
authorize-not-verified = Primero confirma tu correo electrónico: sigue el enlace que te enviamos y después inicia sesión.
authorize-too-many = Demasiados intentos. Espera unos minutos y vuelve a intentarlo.
authorize-form-expired = Este formulario ha caducado. Vuelve a intentarlo.

authorize-second-factor-title = Segundo factor
authorize-second-factor-intro = Tu cuenta está protegida por un segundo factor. Introduce el código de tu aplicación de autenticación, o uno de tus códigos de recuperación, para continuar a { $client }.
authorize-code = Código
authorize-code-button = Continuar
authorize-wrong-code = Este código no se ha aceptado. Compruébalo y vuelve a intentarlo.
authorize-start-again = Este inicio de sesión ha caducado. Vuelve a iniciar sesión.

authorize-consent-title = ¿Permitir el acceso?
authorize-consent-intro = { $client } solicita:
authorize-scope-openid = saber quién eres
authorize-scope-email = ver tu correo electrónico
authorize-scope-profile = ver tu nombre, tu nombre de usuario y tu idioma
authorize-scope-offline-access = seguir conectada a tu cuenta cuando no estés
authorize-consent-as = Has iniciado sesión como { $user }.
authorize-allow = Permitir
authorize-deny = Denegar

authorize-error-title = Este enlace de inicio de sesión no funciona
authorize-error-text = La aplicación que te envió aquí pidió algo que no le está permitido, así que no puedes iniciar sesión de esta forma. Vuelve a ella e inténtalo de nuevo, o avisa a sus desarrolladores.

logout-title = Cerrar sesión
logout-confirm-text = ¿Quieres cerrar la sesión de { $product }?
logout-button = Cerrar sesión
logout-done-title = Has cerrado la sesión
logout-done-text = Has cerrado la sesión de { $product }. Puedes cerrar esta página.
logout-refused-title = Este enlace para cerrar sesión no funciona
logout-refused-text = La aplicación que te envió aquí hizo una solicitud de cierre de sesión que no es válida, así que no se ha cambiado nada. Vuelve a ella e inténtalo de nuevo.
