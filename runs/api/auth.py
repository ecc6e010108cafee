"""Sign-in endpoints: ``POST /api/login/`` trades a username and password for a token."""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.api.base import json_exception_handler
from runs.services.actors import actor_for_user


class LoginApi(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    class LoginInput(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    def get_exception_handler(self):
        return json_exception_handler

    @extend_schema(
        operation_id="login",
        request=LoginInput,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
    )
    def post(self, request):
        data = self.LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None:
            # 400 (not 401): this endpoint takes credentials in the body, not a header.
            raise exceptions.ValidationError({"non_field_errors": ["wrong username or password"]})
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


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
