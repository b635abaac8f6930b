"""What the notification routes may use: notification reads."""

from typing import Annotated

from fastapi import Depends, Request

from notification_service.adapters.views import NotificationViews


async def get_notification_views(request: Request) -> NotificationViews:
    views: NotificationViews = request.app.state.notification_views
    return views


NotificationViewsDep = Annotated[NotificationViews, Depends(get_notification_views)]
