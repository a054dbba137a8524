"""The registry's web application: REST API (`/api/v1`, OpenAPI) and server-rendered dashboard."""

from modelwarden.web.app import Settings, create_app
from modelwarden.web.pages import Page

__all__ = ["Page", "Settings", "create_app"]
