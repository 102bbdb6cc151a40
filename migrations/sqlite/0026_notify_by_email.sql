-- Email as a notification channel beside in-app and SMS (issue 14). NULL: not chosen, so the
-- default applies (on for customers who wrote to the desk by mail, off for everyone else).
ALTER TABLE notification_preferences ADD COLUMN email BOOLEAN;
