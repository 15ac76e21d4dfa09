"""Slack ``action_id`` values of the bot's buttons, in one place: the views put them on
buttons, the action listeners register on them."""

#: Start tracking a job in this channel; button value: the job id.
TRACK = "videojobs_track"
#: Re-fetch one job's card; button value: the job id.
REFRESH = "videojobs_refresh"
#: Next page of a listing; button value: an opaque string the router builds (≤ 2000 chars).
SHOW_MORE = "videojobs_more"
#: Re-post an ephemeral answer in the channel; value: opaque, built by the router (≤ 2000 chars).
POST_TO_CHANNEL = "videojobs_post"
#: DM the clicker when the job ends (tracks it here too); value: the job id.
NOTIFY_ME = "videojobs_notify"
#: Run the command a typo was probably meant to be; value: the command's text.
RUN = "videojobs_run"
#: Every failed job with one error code; value: opaque, built by the router.
JOBS_WITH_CODE = "videojobs_code"
#: Cancel a WAITING job (behind Slack's confirm dialog); value: the job id and its type.
CANCEL = "videojobs_cancel"
#: "I have it": stop a page's re-notification; value: the page's key.
ACKNOWLEDGE = "videojobs_ack"
#: Postpone a page's re-notification by an hour; value: the page's key.
SNOOZE = "videojobs_snooze"
#: Re-create a failed job: shows what it will create and cost; value: the job id.
RETRY = "videojobs_retry"
#: Confirm a re-creation shown by Retry; value: the job id and the thread to track it in (JSON).
RETRY_CONFIRM = "videojobs_retry_confirm"
#: Dismiss Retry's confirmation; value: the job id.
RETRY_DISMISS = "videojobs_retry_dismiss"
