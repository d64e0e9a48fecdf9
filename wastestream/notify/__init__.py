"""Paging: alerts to the robots dispatch centers are paged on (DingTalk, WeCom) or a webhook."""
