"""videojobs: a Slack chat-ops bot for Huawei Cloud MetaStudio video production tasks."""

__version__ = "0.1.0"
