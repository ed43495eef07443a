from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Cursor pagination by creation time: stable under inserts, cheap at any depth."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 500
