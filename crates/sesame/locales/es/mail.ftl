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

## factor_added

factor_added-subject = { $factor_kind ->
    [totp] Se ha añadido una aplicación de autenticación a su cuenta
    [passkey] Se ha añadido una llave de acceso a su cuenta
   *[other] Se ha añadido un segundo factor a su cuenta
}
factor_added-intro = { $factor_kind ->
    [totp] Se ha añadido la aplicación de autenticación «{ $factor_name }» a la cuenta { $email } como segundo factor para iniciar sesión.
    [passkey] Se ha añadido la llave de acceso «{ $factor_name }» a la cuenta { $email }; a partir de ahora puede usarse para iniciar sesión.
   *[other] Se ha añadido el segundo factor «{ $factor_name }» a la cuenta { $email }.
}
factor_added-outro = Si no ha sido usted, alguien tiene acceso a su cuenta: cambie su contraseña de inmediato, elimine este factor y póngase en contacto con el servicio de asistencia.

## factor_removed

factor_removed-subject = { $factor_kind ->
    [all] Se han restablecido los segundos factores de su cuenta
    [totp] Se ha eliminado una aplicación de autenticación de su cuenta
    [passkey] Se ha eliminado una llave de acceso de su cuenta
   *[other] Se ha eliminado un segundo factor de su cuenta
}
factor_removed-intro = { $by_admin ->
    [yes] { $factor_kind ->
        [all] Un administrador ha eliminado todos los segundos factores y códigos de recuperación de la cuenta { $email }. Inicie sesión para configurar un nuevo segundo factor.
        [totp] Un administrador ha eliminado la aplicación de autenticación «{ $factor_name }» de la cuenta { $email }.
        [passkey] Un administrador ha eliminado la llave de acceso «{ $factor_name }» de la cuenta { $email }.
       *[other] Un administrador ha eliminado el segundo factor «{ $factor_name }» de la cuenta { $email }.
    }
   *[no] { $factor_kind ->
        [all] Se han eliminado todos los segundos factores y códigos de recuperación de la cuenta { $email }.
        [totp] Se ha eliminado la aplicación de autenticación «{ $factor_name }» de la cuenta { $email }; sus códigos ya no se aceptan.
        [passkey] Se ha eliminado la llave de acceso «{ $factor_name }» de la cuenta { $email }; ya no puede usarse para iniciar sesión.
       *[other] Se ha eliminado el segundo factor «{ $factor_name }» de la cuenta { $email }.
    }
}
factor_removed-outro = { $by_admin ->
    [yes] Si no lo esperaba, póngase en contacto con su administrador.
   *[no] Si no ha sido usted, alguien tiene acceso a su cuenta: cambie su contraseña de inmediato, revise los segundos factores de su cuenta y póngase en contacto con el servicio de asistencia.
}

## recovery_code_used

recovery_code_used-subject = Se ha usado un código de recuperación en su cuenta
recovery_code_used-intro = Se acaba de usar un código de recuperación en la cuenta { $email } para iniciar sesión o confirmar su identidad. Cada código solo sirve una vez; códigos sin usar restantes: { $codes_left }.
recovery_code_used-outro = Si le quedan pocos, inicie sesión y genere otros nuevos (los anteriores dejarán de ser válidos). Si no ha sido usted, es posible que alguien conozca su contraseña y uno de sus códigos: cambie su contraseña de inmediato, genere nuevos códigos de recuperación y póngase en contacto con el servicio de asistencia.
