import io
from typing import Any

from django.conf import settings
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from legibility.api.parsers import JSONBodyParser
from legibility.ingest.records import batches_of, record_entry
from legibility.ingest.service import samples_ingest
from legibility.models import IngestRun

MAX_RECORDS_PER_PUSH = 10_000


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class CanPushSamples(BasePermission):
    """Staff, or a pipeline account given the "add sample" permission and nothing else."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return bool(user.is_staff or user.has_perm("legibility.add_sample"))


def _json_body(request: Request) -> Any:
    """The request's JSON, read under the push's own size limit rather than Django's 2.5 MB
    for other requests (request.data would apply that one)."""
    # Checked before the body is read: a too-large push costs nothing to refuse.
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ParseError("the Content-Length header is not a number") from None
    if length > settings.INGEST_PUSH_MAX_BYTES:
        raise PayloadTooLarge(
            f"the body has {length} bytes; at most {settings.INGEST_PUSH_MAX_BYTES} per request"
        )
    if request.content_type.split(";")[0].strip() != "application/json":
        raise UnsupportedMediaType(request.content_type)
    raw = request.stream.read(length) if request.stream is not None else b""
    return JSONBodyParser().parse(io.BytesIO(raw), "application/json", {"request": request})


class RejectionSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField(help_text="position of the record in the batch, from 0")
    reason = serializers.CharField()


class SampleBatchIngestApi(APIView):
    """Push a batch of prover samples: the records of the sample JSONL format, as a list."""

    permission_classes = [CanPushSamples]

    class InputSerializer(serializers.Serializer[Any]):
        # any JSON value, null included: each element is judged on its own, so a bad one is
        # a rejection at its index, never the whole batch's 400
        records = serializers.ListField(
            child=serializers.JSONField(allow_null=True), allow_empty=False
        )

    class OutputSerializer(serializers.Serializer[Any]):
        ingest_run = serializers.IntegerField()
        created = serializers.IntegerField()
        duplicates = serializers.IntegerField()
        rejected = serializers.IntegerField()
        rejections = RejectionSerializer(many=True)

    serializer_class = InputSerializer

    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=_json_body(request))
        serializer.is_valid(raise_exception=True)
        records = serializer.validated_data["records"]
        if len(records) > MAX_RECORDS_PER_PUSH:
            raise PayloadTooLarge(
                f"{len(records)} records; at most {MAX_RECORDS_PER_PUSH} per request"
            )
        ingest_run, result = samples_ingest(
            via=IngestRun.Via.PUSH,
            batches=batches_of(record_entry(index, value) for index, value in enumerate(records)),
            total=len(records),
            message=f"pushed by {request.user}",
        )
        output = {
            "ingest_run": ingest_run.pk,
            "created": result.created,
            "duplicates": result.duplicates,
            "rejected": result.rejected,
            "rejections": [{"index": r.position, "reason": r.reason} for r in result.rejections],
        }
        return Response(self.OutputSerializer(output).data, status=status.HTTP_200_OK)
