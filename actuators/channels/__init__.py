"""Notification channel drivers (webhook, SMTP e-mail, SMS over HTTP): one module each, one interface."""
