"""Every export format, as JSON Lines and as Parquet, loads with Hugging Face ``datasets`` with
typed columns; the training formats have exactly TRL's columns.

TRL's dataset formats (huggingface.co/docs/trl, "Dataset formats and types"; DPOTrainer and
RewardTrainer pages): a preference dataset has ``chosen`` and ``rejected`` and, with an explicit
prompt, ``prompt`` (DPOTrainer); RewardTrainer takes the implicit-prompt form (``chosen`` and
``rejected`` each hold the prompt) with an optional ``margin``. The standard form holds strings;
the conversational form lists of ``{"role", "content"}`` messages.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local files only: never the Hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
datasets = pytest.importorskip("datasets")
from datasets import Features, List, Value  # noqa: E402

from annotate.models import Item  # noqa: E402
from annotate.schema import DEFAULT_SCHEMA, schema_normalize  # noqa: E402
from tests.factories import (  # noqa: E402
    BatchFactory,
    ExpertProfileFactory,
    ItemConsensusFactory,
    ItemFactory,
    LabelFactory,
    ProjectFactory,
)

pytestmark = pytest.mark.django_db

# TRL's columns (see the module docstring).
TRL_DPO_COLUMNS = {"prompt", "chosen", "rejected"}  # preference, explicit prompt
TRL_REWARD_COLUMNS = {"chosen", "rejected"}  # preference, implicit prompt
TRL_REWARD_OPTIONAL = {"margin"}

STRING = Value("string")
FLOAT = Value("float64")
INT = Value("int64")
BOOL = Value("bool")
MESSAGES = List({"role": STRING, "content": STRING})
GROUPS = List(List(STRING))
PAIR_METADATA = {
    "external_id": STRING,
    "uid": STRING,
    "batch": STRING,
    "chosen_id": STRING,
    "rejected_id": STRING,
    "confidence": FLOAT,
    "agreement": FLOAT,
    "method": STRING,
}
RANKING_METADATA = {
    "external_id": STRING,
    "uid": STRING,
    "batch": STRING,
    "completion_ids": List(STRING),
    "confidence": FLOAT,
    "agreement": FLOAT,
    "method": STRING,
}


def training_features(export_format: str, form: str, metadata: bool) -> dict:
    text = STRING if form == "standard" else MESSAGES
    columns = {
        "dpo": {"prompt": text, "chosen": text, "rejected": text},
        "reward": {"chosen": text, "rejected": text, "margin": FLOAT},
        "ranking": {"prompt": text, "completions": List(text), "ranks": List(INT)},
    }[export_format]
    if metadata:
        columns.update(RANKING_METADATA if export_format == "ranking" else PAIR_METADATA)
    return columns


# Times are UTC timestamps in Parquet and ISO 8601 strings in JSON Lines.
PARQUET_TIME = Value("timestamp[us, tz=UTC]")
RECORD_FEATURES = {
    "raw": {
        "label_id": STRING,
        "external_id": STRING,
        "item_uid": STRING,
        "batch": STRING,
        "is_gold": BOOL,
        "annotator": STRING,
        "annotator_level": INT,
        "choice": STRING,
        "ranking": GROUPS,
        "strength": INT,
        "strength_level": STRING,
        "criteria": List({"response": STRING, "criterion": STRING, "rating": INT}),
        "rationale": STRING,
        "active_seconds": FLOAT,
        "lease_seconds": FLOAT,
        "shown_order": List(STRING),
        "excluded_from_consensus": BOOL,
        "schema_version": INT,
        "created_at": PARQUET_TIME,
    },
    "consensus": {
        "external_id": STRING,
        "uid": STRING,
        "batch": STRING,
        "is_gold": BOOL,
        "state": STRING,
        "label_count": INT,
        "finalized_at": PARQUET_TIME,
        "consensus": {"choice": STRING, "strength": FLOAT, "ranking": GROUPS},
        "confidence": FLOAT,
        "agreement": FLOAT,
        "method": STRING,
        "consensus_label_count": INT,
        "computed_at": PARQUET_TIME,
    },
}


def null_where_empty(feature, values: list):
    """What datasets infers from JSON for ``feature`` given these values: a column (or a struct
    field, or a list's items) with no value anywhere has no type (``Value('null')``), a time is
    a string. Parquet needs neither: its types are declared."""
    present = [value for value in values if value is not None]
    if not present:
        return Value("null")
    if isinstance(feature, dict):
        return {
            key: null_where_empty(sub, [value.get(key) for value in present]) for key, sub in feature.items()
        }
    if isinstance(feature, List):
        return List(null_where_empty(feature.feature, [x for value in present for x in value]))
    return STRING if feature == PARQUET_TIME else feature


LONG = "Ω≈ç√ 🙂 中文 العربية " * 1000  # about 20 KB, markdown and code below
PROMPT = "## Case\n\n```python\nprint('ECG')\n```\n\nIs this **normal**? 心电图 هل هذا طبيعي"
CHAT = [
    {"role": "system", "content": "You are a cardiologist."},
    {"role": "user", "content": "Is this ECG normal? 🫀"},
]


@pytest.fixture
def pairwise(lab):
    """String and chat prompts, final items with labels of every kind, one unfinished item."""
    schema = schema_normalize(
        {**DEFAULT_SCHEMA, "criteria": [{"key": "helpfulness", "label": "Helpfulness", "min": 1, "max": 7}]}
    )
    project = ProjectFactory(lab=lab, name="Pairwise", label_schema=schema)
    batch = BatchFactory(project=project)
    first, second = ExpertProfileFactory(), ExpertProfileFactory()
    text = ItemFactory(batch=batch, prompt=PROMPT, state=Item.State.FINAL)
    text.responses[1]["text"] = LONG
    text.save(update_fields=["responses"])
    chat = ItemFactory(batch=batch, prompt=CHAT, state=Item.State.FINAL)
    ItemConsensusFactory(item=text, choice="A", strength=2.5, agreement=None)
    ItemConsensusFactory(item=chat, choice="B", strength=1.0)
    ItemFactory(batch=batch)  # open, no consensus
    criteria = {"r0": {"helpfulness": 6}, "r1": {"helpfulness": 2}}
    LabelFactory(item=text, expert=first, choice="A", strength=3, criteria=criteria, rationale="Cites it.")
    LabelFactory(item=text, expert=second, choice="B", strength=1, criteria=criteria, active_seconds=None)
    LabelFactory(item=chat, expert=first, choice="B", strength=2, criteria=criteria)
    return project


@pytest.fixture
def ranking(lab):
    project = ProjectFactory(lab=lab, name="Ranking", ranking=True)
    batch = BatchFactory(project=project)
    item = ItemFactory(batch=batch, prompt=CHAT, state=Item.State.FINAL)
    ItemConsensusFactory(item=item, ranking=[["r2"], ["r0", "r3"], ["r1"]])
    LabelFactory(item=item, expert=ExpertProfileFactory(), ranking=[["r2"], ["r0", "r3"], ["r1"]])
    return project


def load(client, project, tmp_path, **params):
    """The export downloaded to a file and loaded as ``datasets.load_dataset`` would for a lab."""
    query = "&".join(f"{key}={value}" for key, value in params.items())
    response = client.get(f"/api/v1/projects/{project.pk}/export?{query}")
    assert response.status_code == 200
    file_format = params.get("file_format", "jsonl")
    path = tmp_path / f"{project.name}-{'-'.join(params.values())}.{file_format}"
    path.write_bytes(b"".join(response.streaming_content))
    builder = "json" if file_format == "jsonl" else "parquet"
    return datasets.load_dataset(
        builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_every_training_format_loads_typed_with_trls_columns(
    lab_client, pairwise, ranking, tmp_path, file_format
):
    for project in (pairwise, ranking):
        for export_format in ("dpo", "reward", "ranking"):
            for form in ("standard", "conversational"):
                for metadata in (False, True):
                    params = {"format": export_format, "form": form, "file_format": file_format}
                    if metadata:
                        params["include"] = "metadata"
                    dataset = load(lab_client, project, tmp_path, **params)
                    where = f"{project.name} {params}"
                    assert dataset.num_rows > 0, where
                    assert dataset.features == Features(training_features(export_format, form, metadata)), (
                        where
                    )
                    columns = set(dataset.column_names)
                    if export_format == "dpo" and not metadata:
                        assert columns == TRL_DPO_COLUMNS, where
                    if export_format == "reward" and not metadata:
                        assert TRL_REWARD_COLUMNS <= columns <= TRL_REWARD_COLUMNS | TRL_REWARD_OPTIONAL, (
                            where
                        )


def test_the_dpo_rows_load_intact(lab_client, pairwise, tmp_path):
    """20 KB of Unicode, markdown and code, and chat prompts, come back as they were stored."""
    text = Item.objects.get(project=pairwise, prompt=PROMPT)
    for file_format in ("jsonl", "parquet"):
        dataset = load(lab_client, pairwise, tmp_path, format="dpo", file_format=file_format)
        assert dataset[0] == {"prompt": PROMPT, "chosen": text.responses[0]["text"], "rejected": LONG}
        dataset = load(
            lab_client, pairwise, tmp_path, format="dpo", form="conversational", file_format=file_format
        )
        assert dataset[1]["prompt"] == CHAT


@pytest.mark.parametrize("export_format", ["raw", "consensus"])
def test_the_record_formats_load_typed(lab_client, pairwise, ranking, tmp_path, export_format):
    expected = RECORD_FEATURES[export_format]
    for project in (pairwise, ranking):
        parquet = load(lab_client, project, tmp_path, format=export_format, file_format="parquet")
        assert parquet.num_rows > 0
        assert parquet.features == Features(expected), project.name
        # JSON declares no types: a column with no value in this file has none (Value('null')).
        jsonl = load(lab_client, project, tmp_path, format=export_format, file_format="jsonl")
        rows = jsonl.to_list()
        inferred = {
            name: null_where_empty(feature, [row[name] for row in rows]) for name, feature in expected.items()
        }
        assert jsonl.features == Features(inferred), project.name
        assert jsonl.num_rows == parquet.num_rows
