"""Sign-in endpoints: ``POST /api/login/`` trades a username and password for a new
expiring token; ``POST /api/logout/`` revokes the presented one, ``/api/logout-all/``
every token of the user; ``GET /api/me/`` says who the token belongs to.

Tokens are django-rest-knox's (``runs.services.api_tokens``).
"""

from __future__ import annotations

from axes.helpers import get_cool_off
from django.contrib.auth import authenticate, user_logged_in
from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.api.base import json_exception_handler
from runs.api.throttles import LoginAddressThrottle, LoginUsernameThrottle
from runs.services.actors import actor_for_user
from runs.services.api_tokens import api_token_issue, api_token_revoke, api_tokens_revoke_all


class LoginLockedOut(exceptions.Throttled):
    """django-axes refused the attempt: too many failures for this username or address."""

    default_detail = "too many failed sign-ins for this username or address; try again later"
    default_code = "locked_out"


def _lockout_wait_s() -> int | None:
    # An upper bound: the lockout ends one cool-off after the last counted failure.
    cool_off = get_cool_off()
    return int(cool_off.total_seconds()) if cool_off else None


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginAddressThrottle, LoginUsernameThrottle]

    class LoginInput(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    class LoginOutput(serializers.Serializer):
        token = serializers.CharField()
        expiry = serializers.DateTimeField()

    def get_exception_handler(self):
        return json_exception_handler

    @extend_schema(
        operation_id="login",
        request=LoginInput,
        responses={200: LoginOutput},  # errors: backend/api_schema.py
    )
    def post(self, request):
        data = self.LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        # The DRF request, not the Django one: axes then flags a lockout on it, and this view
        # (not AxesMiddleware) answers with JSON.
        user = authenticate(request, **data.validated_data)
        if user is None and getattr(request, "axes_locked_out", False):
            raise LoginLockedOut(wait=_lockout_wait_s())
        if user is None:
            # 400 (not 401): this endpoint takes credentials in the body, not a header.
            raise exceptions.ValidationError({"non_field_errors": ["wrong username or password"]})
        issued = api_token_issue(user=user)
        # As django.contrib.auth.login does: last_login, and anything else listening.
        user_logged_in.send(sender=type(user), request=request, user=user)
        return Response(self.LoginOutput({"token": issued.key, "expiry": issued.expiry}).data)


class TokenOnlyApi(APIView):
    """Logout acts on the token that authenticated the request, so it takes tokens only."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]

    def get_exception_handler(self):
        return json_exception_handler


class LogoutApi(TokenOnlyApi):
    @extend_schema(operation_id="logout", request=None, responses={204: None})
    def post(self, request):
        api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllApi(TokenOnlyApi):
    @extend_schema(operation_id="logout_all", request=None, responses={204: None})
    def post(self, request):
        api_tokens_revoke_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    class MeOutput(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        role = serializers.CharField(allow_null=True)
        operator_id = serializers.IntegerField(allow_null=True)

    def get_exception_handler(self):
        return json_exception_handler

    @extend_schema(operation_id="me", responses={200: MeOutput})
    def get(self, request):
        actor = actor_for_user(request.user)
        operator = getattr(request.user, "operator", None)
        return Response(
            self.MeOutput(
                {
                    "id": request.user.pk,
                    "username": request.user.get_username(),
                    "role": actor.role.value if actor else None,
                    "operator_id": operator.pk if operator else None,
                }
            ).data
        )
