from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Cursor pagination by creation time: stable under inserts, cheap at any depth.

    A cursor that does not decode is bad input, a 400 naming ``cursor`` (DRF answers 404)."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            message = "Invalid cursor: pass the cursor of a page's `next` or `previous` link unchanged."
            raise ValidationError({self.cursor_query_param: [ErrorDetail(message, code="invalid")]}) from None
