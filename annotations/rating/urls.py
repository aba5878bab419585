from django.urls import path

from annotations.rating import views

urlpatterns = [
    path("", views.rate, name="rate"),
    path("consent/", views.consent, name="rate-consent"),
    path("answer/", views.answer, name="rate-answer"),
    path("next-session/", views.next_session, name="rate-next-session"),
    path("login/<str:token>/", views.login_link, name="rate-login-link"),
]
