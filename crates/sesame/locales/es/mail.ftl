# Correos (la estructura se describe en en/mail.ftl).

mail-greeting = Hola:
mail-link-label = { $action }:

## Duraciones

duration-second = { $count ->
    [one] { $count } segundo
   *[other] { $count } segundos
}
duration-minute = { $count ->
    [one] { $count } minuto
   *[other] { $count } minutos
}
duration-hour = { $count ->
    [one] { $count } hora
   *[other] { $count } horas
}
duration-day = { $count ->
    [one] { $count } día
   *[other] { $count } días
}

## verify_email

verify_email-subject = Confirme su dirección de correo electrónico
verify_email-intro = Confirme que { $email } es su dirección de correo electrónico.
verify_email-action = Confirmar mi dirección
verify_email-outro = El enlace solo funciona una vez y caduca en { $expires_in }. Si usted no ha creado una cuenta, ignore este mensaje.

## password_reset

password_reset-subject = Restablezca su contraseña
password_reset-intro = Alguien ha solicitado restablecer la contraseña de la cuenta { $email }.
password_reset-action = Elegir una contraseña nueva
password_reset-outro = El enlace solo funciona una vez y caduca en { $expires_in }. Si no ha sido usted, ignore este mensaje: su contraseña no cambiará.

## invite

invite-subject = Su nueva cuenta en { $site }
invite-intro = ¡Le damos la bienvenida! Un administrador de { $site } ha creado una cuenta para usted con la dirección { $email }. Para empezar a usarla, elija su contraseña.
invite-action = Elegir mi contraseña
invite-outro = El enlace solo funciona una vez y caduca en { $expires_in }. Si no esperaba esta invitación, ignore este mensaje: nadie puede iniciar sesión en la cuenta hasta que se elija una contraseña.

## password_changed

password_changed-subject = Su contraseña ha cambiado
password_changed-intro = Se acaba de cambiar la contraseña de la cuenta { $email } y se han cerrado las demás sesiones.
password_changed-outro = Si no ha sido usted, restablezca su contraseña de inmediato y póngase en contacto con el servicio de asistencia.

## email_change_confirm

email_change_confirm-subject = Confirme su nueva dirección de correo electrónico
email_change_confirm-intro = Para que { $new_email } pase a ser la dirección de correo electrónico de su cuenta, confírmela.
email_change_confirm-action = Confirmar la nueva dirección
email_change_confirm-outro = El enlace solo funciona una vez y caduca en { $expires_in }. Si usted no lo ha solicitado, ignore este mensaje.

## email_change_notice

email_change_notice-subject = Se ha solicitado cambiar su dirección de correo electrónico
email_change_notice-intro = Alguien que ha iniciado sesión en la cuenta { $email } ha solicitado cambiar su dirección de correo electrónico a { $new_email }. No cambiará nada hasta que se confirme la nueva dirección.
email_change_notice-outro = Si no ha sido usted, cambie su contraseña de inmediato.

## email_change_taken

email_change_taken-subject = No es posible cambiar la dirección de correo electrónico
email_change_taken-intro = Alguien ha solicitado trasladar una cuenta a la dirección { $email }, pero ya existe una cuenta con esta dirección, así que no se ha cambiado nada.
email_change_taken-outro = Si ha sido usted, inicie sesión con esta dirección. De lo contrario, ignore este mensaje.

## account_locked

account_locked-subject = Se ha pausado el inicio de sesión en su cuenta
account_locked-intro = Ha habido varios intentos fallidos de iniciar sesión en la cuenta { $email }, por lo que el inicio de sesión queda pausado durante { $locked_for }. Después podrá iniciar sesión con normalidad; nuevos fallos alargarán la pausa.
account_locked-outro = Si esos intentos no fueron suyos, es posible que alguien esté intentando adivinar su contraseña: le recomendamos cambiarla por una larga y única.
