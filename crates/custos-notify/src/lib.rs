//! Alert notifications: outgoing signed webhook, Slack, PagerDuty Events API v2 and SMTP e-mail, with retries that never block capture.
