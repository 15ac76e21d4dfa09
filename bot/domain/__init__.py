"""The shared types and rules of the bot, with no Slack and no database: the Reply a
command answers, the messaging protocol and its errors, the runbook, who may cancel,
job statistics and the stuck line.
"""
