"""People in a case room by e-mail: SMTP out (aiosmtplib), an embedded SMTP listener in (aiosmtpd)."""
