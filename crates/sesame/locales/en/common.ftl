# Shared words. Pages: pages.ftl; email: mail.ftl.
language-name = English
