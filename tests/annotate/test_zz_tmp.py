import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from tests.annotate.test_exports import *  # noqa
from tests.annotate.test_exports import _label

def test_count(lab_client, project, experts):
    batch = BatchFactory(project=project)
    for _ in range(10):
        item = ItemFactory(batch=batch)
        for expert in experts:
            _label(item, expert)
    with CaptureQueriesContext(connection) as ctx:
        export(lab_client, project, format="raw")
    for q in ctx.captured_queries: print(q["sql"][:300])
