"""HTML pages (server-rendered, templates in ``frontend_templates/``)."""

from django.http import HttpResponse
from django.urls import path


def home(request):
    return HttpResponse("RLHF expert-feedback platform")


urlpatterns = [
    path("", home, name="home"),
]
