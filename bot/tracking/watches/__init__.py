"""What is checked on a schedule: stuck jobs, video minutes left, scheduled reports."""
