"""Typed OpenAPI components for the bodies the views build as dictionaries.

Some answers are written as plain dictionaries by the code that computes them (the quality
report, an item's drill-down, the chain's status, the expert's labels, an exam question) and
some serializer fields are ``JSONField``/``DictField``; drf-spectacular documents those as free
objects. The :func:`type_free_form_bodies` postprocessing hook gives each a component schema
of what the code returns: whole bodies by operation (``BODIES``), fields by component and
property (``FIELDS``). ``tests/platform/test_openapi_bodies.py`` checks that no request or
successful answer is left untyped (the data that really is free-form is listed there), and
validates real answers of these operations against their components.

Properties are required where the code always writes them; objects stay open to new keys
(``additionalProperties`` is not closed) unless the server refuses unknown keys.
"""

from __future__ import annotations

from typing import Any

_REF = "#/components/schemas/"


def ref(name: str, *, nullable: bool = False) -> dict:
    if nullable:
        return {"allOf": [{"$ref": _REF + name}], "nullable": True}
    return {"$ref": _REF + name}


def _object(properties: dict, description: str = "", *, optional: tuple[str, ...] = ()) -> dict:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": sorted(set(properties) - set(optional)),
    }
    if description:
        schema["description"] = description
    return schema


def _nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


def _results(item_ref: str, description: str = "") -> dict:
    return _object({"results": {"type": "array", "items": ref(item_ref)}}, description)


UUID = {"type": "string", "format": "uuid"}
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}
DATE_TIME = {"type": "string", "format": "date-time"}
ITEM_STATE = {"type": "string", "enum": ["open", "labelled", "final", "adjudication", "cancelled"]}
# Groups of tied responses, best first: response ids (an item's own answers) or letters (what
# an expert saw).
RANKING = {
    "type": "array",
    "items": {"type": "array", "items": {"type": "string"}},
    "description": "Groups of tied responses, best first.",
}
CONSENSUS_METHOD = {
    "type": "string",
    "description": "How the consensus was decided (majority, dawid_skene, adjudication, ...).",
}
PAIRWISE_CHOICE = {"type": "string", "description": "A, B, tie or both_bad; empty or null for a ranking."}
POSTERIOR = {
    "type": "object",
    "nullable": True,
    "additionalProperties": {"type": "number"},
    "description": "Pairwise: the posterior probability of each choice.",
}
PROMPT = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": ref("BatchMessage")},
    ],
    "description": "A string, or a list of {role, content} messages.",
}
PROMPT_HTML = {
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    "description": "The prompt as sanitised HTML (annotate/rendering.py): a string, or one per chat message.",
}

COMPONENTS: dict[str, dict] = {
    # --- batches and items -------------------------------------------------------------------
    "BatchLineError": _object(
        {
            "line": {"type": "integer", "minimum": 0, "description": "1-based line (or array element)."},
            "field": {**STRING, "nullable": True, "description": "The field, dotted: responses.0.text."},
            "code": STRING,
            "message": STRING,
        },
        "One invalid line of an upload.",
    ),
    "BatchGoldAnswer": {
        "type": "object",
        "description": "A gold item's expected answer (annotate/ingest/validate.py): pairwise "
        "choice with an optional strength range, or a ranking of response ids with the discordant "
        "pairs allowed.",
        "properties": {
            "choice": {"type": "string", "enum": ["A", "B", "tie", "both_bad"]},
            "strength_min": {"type": "integer", "minimum": 1, "nullable": True},
            "strength_max": {"type": "integer", "minimum": 1, "nullable": True},
            "ranking": {**RANKING, "description": "Groups of tied response ids, best first."},
            "max_distance": {"type": "integer", "minimum": 0, "default": 0},
            "explanation": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "BatchLink": {
        "type": "object",
        "properties": {
            "kind": {
                "type": "string",
                "enum": ["github", "google_scholar", "linkedin", "orcid", "other", "website"],
                "default": "other",
            },
            "url": {"type": "string", "format": "uri", "description": "An http(s) URL."},
        },
        "required": ["url"],
        "additionalProperties": False,
    },
    # --- what an expert sees -----------------------------------------------------------------
    "AssignmentProject": _object(
        {"id": UUID, "name": STRING, "guidelines_url": STRING},
        "The project (or, for an exam question, the exam) and where its guidelines are.",
    ),
    "AssignmentResponse": _object(
        {
            "label": {"type": "string", "description": "The letter shown: A, B, C, ..."},
            "text": STRING,
            "html": {"type": "string", "description": "The text rendered and sanitised."},
        },
        "A response as shown: lettered in the shuffled order, without model name or id.",
    ),
    "ExamQuestion": _object(
        {
            "id": {**UUID, "description": "The answer's id: POST exam-questions/{id}/answer."},
            "attempt": UUID,
            "position": {"type": "integer", "minimum": 1},
            "total": INTEGER,
            "project": ref("AssignmentProject"),
            "prompt": PROMPT,
            "prompt_html": PROMPT_HTML,
            "responses": {"type": "array", "items": ref("AssignmentResponse")},
            "label_schema": ref("LabelSchema"),
            "status": {"type": "string", "enum": ["active", "answered"]},
            "leased_at": DATE_TIME,
            "expires_at": {**DATE_TIME, "nullable": True, "description": "Always null: no lease."},
            "lease_seconds": {**INTEGER, "nullable": True, "description": "Always null: no lease."},
        },
        "The question to answer now, in the shape of a queue assignment.",
    ),
    "ExamForExpert": _object(
        {
            "id": UUID,
            "name": STRING,
            "project": _nullable(_object({"id": UUID, "name": STRING})),
            "domain": {"type": "string", "description": "The domain's path."},
            "instructions_html": STRING,
            "pass_mark": {"type": "number", "description": "Share of questions to get right, 0 to 1."},
            "retry_delay_seconds": INTEGER,
            "question_count": INTEGER,
            "qualified": BOOLEAN,
            "attempt_in_progress": {**UUID, "nullable": True},
            "retry_at": {**DATE_TIME, "nullable": True},
        },
        "An exam as its candidate sees it, with where they stand.",
    ),
    "GoldReviewEntry": _object(
        {
            "item": UUID,
            "project": _object({"id": UUID, "name": STRING}),
            "prompt": PROMPT,
            "answered_at": DATE_TIME,
            "retired_at": DATE_TIME,
            "passed": {**BOOLEAN, "nullable": True},
            "expected": {
                "type": "object",
                "description": "The expected answer in the letters the expert saw.",
                "properties": {
                    "choice": {**STRING, "nullable": True},
                    "strength_min": INTEGER,
                    "strength_max": INTEGER,
                    "ranking": RANKING,
                    "max_distance": INTEGER,
                },
            },
            "explanation": STRING,
        },
        "A retired gold item the expert answered.",
    ),
    "GoldReview": _object(
        {
            "accuracy": _object(
                {
                    "graded": {**INTEGER, "nullable": True},
                    "accuracy": {**NUMBER, "nullable": True},
                    "none": {"type": "boolean", "description": "No graded gold answered before today."},
                    "min_graded": INTEGER,
                    "as_of": DATE_TIME,
                },
                "Gold accuracy over graded golds answered before today (UTC); null under min_graded.",
            ),
            "results": {"type": "array", "items": ref("GoldReviewEntry")},
        }
    ),
    "LabelValue": _object(
        {
            "choice": {**STRING, "nullable": True},
            "strength": {**INTEGER, "nullable": True},
            "ranking": {**RANKING, "nullable": True},
            "criteria": {
                "type": "object",
                "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
                "description": "{letter: {criterion key: rating}}.",
            },
            "rationale": STRING,
        },
        "A label's value in the letters the expert saw.",
    ),
    "MyLabel": _object(
        {
            "assignment": UUID,
            "item": UUID,
            "project": _object({"id": UUID, "name": STRING}),
            "value": ref("LabelValue"),
            "answer": {"type": "string", "description": 'The value in words: "B better (clearly)".'},
            "created_at": DATE_TIME,
            "revisions": INTEGER,
            "revisions_left": INTEGER,
            "open": {"type": "boolean", "description": "Whether it can still be corrected."},
            "status": {
                "type": "string",
                "enum": ["awaiting", "adjudication", "cancelled", "final_later", "final"],
            },
            "consensus": {**STRING, "nullable": True, "description": "The final consensus in words."},
            "agreed": {**BOOLEAN, "nullable": True},
        },
        "One of the expert's labels (never whether it was gold).",
    ),
    "MyLabelPage": _object(
        {
            "count": INTEGER,
            "page": INTEGER,
            "pages": INTEGER,
            "max_revisions": INTEGER,
            "results": {"type": "array", "items": ref("MyLabel")},
        },
        "A page of the expert's labels, newest first.",
    ),
    "CreatedId": _object({"id": UUID}),
    # --- quality (staff and the owning lab) ----------------------------------------------------
    "QualityAlpha": _object(
        {
            "criterion": {"type": "string", "description": "choice, strength, ranking or criteria.<key>."},
            "level": {"type": "string", "enum": ["nominal", "ordinal", "interval"]},
            "labels": INTEGER,
            "units": INTEGER,
            "alpha": {**NUMBER, "nullable": True, "description": "Krippendorff's alpha."},
            "low": {**NUMBER, "nullable": True, "description": "Bootstrap 95% interval."},
            "high": {**NUMBER, "nullable": True},
        }
    ),
    "QualityBatchAlpha": {
        "allOf": [ref("QualityAlpha"), _object({"batch": UUID})],
        "description": "The headline criterion's alpha in one batch (no bootstrap).",
    },
    "QualityConsensusDistribution": _object(
        {
            "items_with_consensus": INTEGER,
            "choice_counts": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "Pairwise: items per consensus choice ({} for rankings).",
            },
            "choice_shares": {"type": "object", "additionalProperties": {"type": "number"}},
            "states": {"type": "object", "additionalProperties": {"type": "integer"}},
            "confidence_histogram": {
                "type": "array",
                "items": _object({"low": NUMBER, "high": NUMBER, "items": INTEGER}),
            },
        }
    ),
    "QualityConsensusModel": _object(
        {
            "method": {"type": "string", "description": "dawid_skene or majority."},
            "fitted_at": DATE_TIME,
            "label_count": INTEGER,
            "fit_seconds": NUMBER,
            "gold_items": INTEGER,
            "held_out": _object(
                {
                    "log_likelihood": {"type": "object", "additionalProperties": {"type": "number"}},
                    "accuracy": {"type": "object", "additionalProperties": {"type": "number"}},
                    "gold_items": INTEGER,
                    "folds": INTEGER,
                    "reason": STRING,
                },
                "Held-out gold scores of each method, by method.",
            ),
            "suspected_groups": INTEGER,
            "suspected_group_sizes": {"type": "array", "items": INTEGER},
        },
        "How the project's items are decided; null before the first fit.",
    ),
    "QualityGoldPool": _object(
        {
            name: INTEGER
            for name in (
                "exposure_cap",
                "total",
                "lab",
                "silver",
                "live",
                "silver_live",
                "retired",
                "exposures",
                "exposures_left",
            )
        },
        "The gold pool: live, retired and silver items and the exposures served.",
    ),
    "QualityRevisedItem": _object(
        {
            "item": UUID,
            "external_id": STRING,
            "revisions": INTEGER,
            "was": {"oneOf": [STRING, RANKING], "nullable": True},
            "now": {"oneOf": [STRING, RANKING], "nullable": True},
            "at": {**DATE_TIME, "nullable": True},
            "reason": {**STRING, "nullable": True},
            "suspension": {**UUID, "nullable": True},
        }
    ),
    "QualityLowAgreementItem": _object(
        {
            "item": UUID,
            "external_id": STRING,
            "state": ITEM_STATE,
            "method": CONSENSUS_METHOD,
            "choice": {**PAIRWISE_CHOICE, "nullable": True},
            "ranking": {**RANKING, "nullable": True},
            "confidence": NUMBER,
            "agreement": {**NUMBER, "nullable": True},
            "label_count": INTEGER,
        }
    ),
    "QualityReport": _object(
        {
            "project": _object(
                {"id": UUID, "name": STRING, "kind": {"type": "string", "enum": ["pairwise", "ranking"]}}
            ),
            "labels": INTEGER,
            "items_labelled": INTEGER,
            "annotators": INTEGER,
            "bootstrap_samples": INTEGER,
            "agreement": {"type": "array", "items": ref("QualityAlpha")},
            "fleiss_kappa": _nullable(
                _object(
                    {
                        "kappa": {**NUMBER, "nullable": True},
                        "raters_per_item": INTEGER,
                        "items": INTEGER,
                        "items_left_out": INTEGER,
                    },
                    "Pairwise: Fleiss' kappa over the items with the modal number of labels.",
                )
            ),
            "per_batch": {"type": "array", "items": ref("QualityBatchAlpha")},
            "agreement_computed_at": DATE_TIME,
            "consensus": ref("QualityConsensusDistribution"),
            "consensus_model": ref("QualityConsensusModel", nullable=True),
            "gold_pool": ref("QualityGoldPool"),
            "revised_items": _object(
                {"count": INTEGER, "results": {"type": "array", "items": ref("QualityRevisedItem")}}
            ),
            "low_agreement_items": _object(
                {
                    "count": INTEGER,
                    "limit": INTEGER,
                    "offset": INTEGER,
                    "agreement_below": NUMBER,
                    "confidence_below": NUMBER,
                    "results": {"type": "array", "items": ref("QualityLowAgreementItem")},
                }
            ),
        },
        "A project's quality report (annotate/quality/report.py): agreement with bootstrap "
        "intervals, Fleiss' kappa, the consensus distribution, the consensus model, the gold pool, "
        "revised and low-agreement items. No annotator in it.",
    ),
    "AuditEntry": _object(
        {
            "at": DATE_TIME,
            "action": STRING,
            "data": {"type": "object", "additionalProperties": {}, "description": "The audit event's data."},
        }
    ),
    "QualityAnnotator": _object(
        {
            "expert": {"type": "string", "description": "The pseudonym."},
            "expert_email": {"type": "string", "format": "email"},
            "labels": INTEGER,
            "gold": _object(
                {"passed": INTEGER, "failed": INTEGER, "accuracy": NUMBER, "low": NUMBER, "high": NUMBER},
                "Gold accuracy: Beta posterior mean and 95% interval.",
            ),
            "suspension_test": _object(
                {
                    "statistic_nats": NUMBER,
                    "threshold_nats": NUMBER,
                    "change_point": {**DATE_TIME, "nullable": True},
                    "evidence": INTEGER,
                }
            ),
            "agreement_leave_one_out": {**NUMBER, "nullable": True},
            "agreement_with_final": {**NUMBER, "nullable": True},
            "median_active_seconds": {**NUMBER, "nullable": True},
            "speed_vs_project_median": {**NUMBER, "nullable": True},
            "speed_flagged": BOOLEAN,
            "position_bias_p": {**NUMBER, "nullable": True},
            "straight_lining_share": {**NUMBER, "nullable": True},
            "colluding_with": {"type": "array", "items": STRING, "description": "Pseudonyms."},
            "flags": {"type": "array", "items": STRING},
            "status": {"type": "string", "enum": ["active", "warned", "suspended"]},
            "history": {"type": "array", "items": ref("AuditEntry")},
        },
        "One annotator's quality in a project (staff only).",
    ),
    "ItemConsensusDetail": _object(
        {
            "method": CONSENSUS_METHOD,
            "choice": {**PAIRWISE_CHOICE, "nullable": True},
            "strength": {**NUMBER, "nullable": True},
            "ranking": {**RANKING, "nullable": True},
            "confidence": NUMBER,
            "agreement": {**NUMBER, "nullable": True},
            "label_count": INTEGER,
            "posterior": POSTERIOR,
            "computed_at": DATE_TIME,
        }
    ),
    "ItemLabelDetail": _object(
        {
            "annotator": {"type": "string", "description": "The pseudonym."},
            "choice": {**PAIRWISE_CHOICE, "nullable": True},
            "strength": {**INTEGER, "nullable": True},
            "ranking": {**RANKING, "nullable": True},
            "criteria": {
                "type": "object",
                "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}},
                "description": "{response id: {criterion key: rating}}.",
            },
            "rationale": STRING,
            "active_seconds": {**NUMBER, "nullable": True},
            "shown_order": {"type": "array", "items": INTEGER},
            "excluded_from_consensus": BOOLEAN,
            "gold_passed": {**BOOLEAN, "nullable": True},
            "created_at": DATE_TIME,
        }
    ),
    "StaffItem": _object(
        {
            "item": UUID,
            "project": UUID,
            "external_id": STRING,
            "state": ITEM_STATE,
            "is_gold": BOOLEAN,
            "gold": {},  # the gold answer's schema, open: below
            "prompt": PROMPT,
            "responses": {"type": "array", "items": ref("BatchResponse")},
            "consensus": ref("ItemConsensusDetail", nullable=True),
            "labels": {"type": "array", "items": ref("ItemLabelDetail")},
        },
        "One item with its labels (annotators by pseudonym), consensus and state (staff only).",
    ),
    "AdjudicationLabel": _object(
        {
            "choice": PAIRWISE_CHOICE,
            "strength": {**INTEGER, "nullable": True},
            "ranking": {**RANKING, "nullable": True},
            "rationale": STRING,
        }
    ),
    "AdjudicationConsensus": _object(
        {
            "method": CONSENSUS_METHOD,
            "choice": PAIRWISE_CHOICE,
            "ranking": {**RANKING, "nullable": True},
            "confidence": NUMBER,
            "posterior": POSTERIOR,
        }
    ),
    "AdjudicationDecision": _object(
        {
            "item": UUID,
            "method": CONSENSUS_METHOD,
            "choice": PAIRWISE_CHOICE,
            "strength": {**NUMBER, "nullable": True},
            "ranking": {**RANKING, "nullable": True},
            "confidence": NUMBER,
        },
        "The item's consensus as decided.",
    ),
    "SuspensionDetails": {
        "type": "object",
        "description": "What the suspension recorded: the sequential test (test, statistic, "
        "threshold, design and gold standing) for a quality suspension, the group for a confirmed "
        "group's.",
        "properties": {
            "test": {"type": "string", "description": "cusum."},
            "statistic_nats": NUMBER,
            "threshold_nats": NUMBER,
            "change_point": {**DATE_TIME, "nullable": True},
            "evidence": INTEGER,
            "alpha": NUMBER,
            "horizon": INTEGER,
            "p0": NUMBER,
            "p1": NUMBER,
            "silver_p0": NUMBER,
            "silver_p1": {**NUMBER, "description": "A random answer's chance: 1 / the project's choices."},
            "passed": INTEGER,
            "failed": INTEGER,
            "gold_threshold": NUMBER,
            "gold_min_seen": INTEGER,
            "silver_graded": {**INTEGER, "description": "Silver grades of the labels from the change point."},
            "silver_agreed": {
                **INTEGER,
                "description": "Of those, the labels that matched their item's consensus without them.",
            },
            "silver_mean_support": {
                **NUMBER,
                "nullable": True,
                "description": "Their mean support: the probability the other labels gave their answers.",
            },
            "group": UUID,
            "members": INTEGER,
            "signals": {"type": "array", "items": STRING},
            "note": STRING,
        },
    },
    "GroupEvidence": _object(
        {
            "edges": {
                "type": "array",
                "items": _object(
                    {
                        "a": {"type": "string", "description": "An expert's id."},
                        "b": STRING,
                        "signals": {
                            "type": "object",
                            "additionalProperties": {"type": "object", "additionalProperties": {}},
                            "description": "Each signal's evidence for the pair (scores, shared "
                            "items, hash prefixes).",
                        },
                    }
                ),
            },
            "linked_confirmed": {"type": "array", "items": STRING},
            "thresholds": {"type": "object", "additionalProperties": {"type": "number"}},
        },
        "Why the group was flagged.",
        optional=("edges", "linked_confirmed", "thresholds"),
    ),
    # --- accounts, experts ---------------------------------------------------------------------
    "UserLab": _object({"id": UUID, "slug": STRING, "name": STRING}, "A lab the user belongs to."),
    "CredentialEvidence": _object(
        {
            "name": STRING,
            "content_type": STRING,
            "size": INTEGER,
            "sha256": STRING,
            "url": {"type": "string", "description": "Where to download it (owner and staff only)."},
        },
        "The evidence file, or null.",
    ),
    "CredentialExpert": _object(
        {"id": UUID, "email": {"type": "string", "format": "email"}, "full_name": STRING, "pseudonym": STRING}
    ),
    # --- rewards and payouts -------------------------------------------------------------------
    "ExpectedCost": _object(
        {
            "expected_cost_per_label": {
                "type": "string",
                "pattern": "^[0-9]+$",
                "description": "Token base units, as a string.",
                "example": "250000000000000000",
            },
            "basis": {"type": "string", "description": "The mean of the last rewards, or the maximum."},
        }
    ),
    "ChainIdentity": _object(
        {
            "chain_id": INTEGER,
            "genesis_hash": STRING,
            "token_address": STRING,
            "token_code_hash": STRING,
            "token_deploy_block": {**INTEGER, "nullable": True},
            "token_deploy_block_hash": STRING,
            "recorded_at": DATE_TIME,
        },
        "The chain as recorded (recorded_at) or as the node says now (without recorded_at).",
        optional=("recorded_at",),
    ),
    "ChainStatus": _object(
        {
            "ok": BOOLEAN,
            "state": {"type": "string", "enum": ["match", "mismatch", "not_recorded", "unknown"]},
            "differences": {"type": "array", "items": STRING},
            "recorded": ref("ChainIdentity", nullable=True),
            "observed": ref("ChainIdentity"),
            "error": {"type": "string", "description": "unknown: why the node or database did not answer."},
        },
        "Whether the node is the chain the payouts were recorded on.",
        optional=("differences", "recorded", "observed", "error"),
    ),
    "ChainRebindReport": _object(
        {
            "applied": {"type": "boolean", "description": "false for a dry run."},
            "recorded": {"type": "object", "additionalProperties": {}},
            "observed": {"type": "object", "additionalProperties": {}},
            "differences": {"type": "array", "items": STRING},
            "lost_transactions": {
                "type": "array",
                "items": _object(
                    {"id": UUID, "tx_hash": STRING, "nonce": {**INTEGER, "nullable": True}, "status": STRING}
                ),
            },
            "recredited": {"type": "string", "description": "Paid out -> payable, token base units."},
            "returned": {"type": "string", "description": "In flight -> payable, token base units."},
            "unsigned_failed": INTEGER,
            "runs_completed": INTEGER,
        },
        "What a re-bind did (or, as a dry run, would do).",
    ),
    "OutsideTransferLine": _object(
        {"receiver": STRING, "value": {"type": "string", "description": "Token base units."}}
    ),
}
COMPONENTS["ChainRebindReport"]["properties"]["recorded"] = ref("ChainIdentity")
COMPONENTS["ChainRebindReport"]["properties"]["observed"] = ref("ChainIdentity")
COMPONENTS["StaffItem"]["properties"]["gold"] = {
    **COMPONENTS["BatchGoldAnswer"],
    "additionalProperties": {},
    "nullable": True,
    "description": "The expected answer of a gold item (a BatchGoldAnswer; a silver answer "
    "also says where it came from).",
}

# Whole bodies: (method, path, status, media type) -> schema.
_V1 = "/api/v1"
BODIES: dict[tuple[str, str, str], dict] = {
    ("get", f"{_V1}/projects/{{project_id}}/quality", "200"): ref("QualityReport"),
    ("get", f"{_V1}/staff/projects/{{project_id}}/quality", "200"): ref("QualityReport"),
    ("get", f"{_V1}/staff/projects/{{project_id}}/annotators", "200"): _results("QualityAnnotator"),
    ("get", f"{_V1}/staff/items/{{item_id}}", "200"): ref("StaffItem"),
    ("post", f"{_V1}/adjudication/{{item_id}}/decide", "200"): ref("AdjudicationDecision"),
    ("get", f"{_V1}/me/labels", "200"): ref("MyLabelPage"),
    ("post", f"{_V1}/assignments/{{assignment_id}}/revise", "200"): ref("MyLabel"),
    ("post", f"{_V1}/assignments/{{assignment_id}}/report", "201"): ref("CreatedId"),
    ("get", f"{_V1}/exam-attempts/{{attempt_id}}/question", "200"): ref("ExamQuestion"),
    ("get", f"{_V1}/exams", "200"): _results("ExamForExpert"),
    ("get", f"{_V1}/queue/gold-review", "200"): ref("GoldReview"),
    ("get", f"{_V1}/staff/payouts/chain", "200"): ref("ChainStatus"),
    ("post", f"{_V1}/staff/payouts/chain/rebind", "200"): ref("ChainRebindReport"),
}

_LINE_ERRORS = {
    "type": "array",
    "items": ref("BatchLineError"),
    "description": "The first 1,000 line errors, by line.",
}
# Fields: (component, property) -> schema; a component that is absent is left alone.
FIELDS: dict[tuple[str, str], dict] = {
    ("AssignmentOutput", "project"): ref("AssignmentProject"),
    ("AssignmentOutput", "prompt"): PROMPT,
    ("AssignmentOutput", "prompt_html"): PROMPT_HTML,
    ("AssignmentOutput", "responses"): {"type": "array", "items": ref("AssignmentResponse")},
    ("UserOutput", "labs"): {"type": "array", "items": ref("UserLab")},
    ("BatchDetailOutput", "errors"): _LINE_ERRORS,
    ("BatchDetailOutput", "progress"): ref("ProgressOutput"),
    ("DryRunOutput", "errors"): _LINE_ERRORS,
    ("BatchItemRecord", "gold"): ref("BatchGoldAnswer", nullable=True),
    ("CredentialOutput", "evidence"): ref("CredentialEvidence", nullable=True),
    ("StaffCredentialOutput", "evidence"): ref("CredentialEvidence", nullable=True),
    ("StaffCredentialOutput", "expert"): ref("CredentialExpert"),
    ("ProfilePatchedInputRequest", "links"): {"type": "array", "items": ref("BatchLink"), "maxItems": 10},
    ("ItemConsensusOutput", "ranking"): {**RANKING, "nullable": True},
    ("LabProjectExamListInputRequest", "items"): {"type": "array", "items": ref("BatchItemRecord")},
    ("StaffExamListInputRequest", "items"): {"type": "array", "items": ref("BatchItemRecord")},
    ("SuspensionOutput", "details"): ref("SuspensionDetails"),
    ("StaffSuspensionOutput", "details"): ref("SuspensionDetails"),
    ("GroupOutput", "signals"): {
        "type": "array",
        "items": {"type": "string", "enum": ["agreement", "timing", "credential", "fingerprint"]},
    },
    ("GroupOutput", "evidence"): ref("GroupEvidence"),
    ("AdjudicationItemOutput", "prompt"): PROMPT,
    ("AdjudicationItemOutput", "responses"): {"type": "array", "items": ref("BatchResponse")},
    ("AdjudicationItemOutput", "labels"): {"type": "array", "items": ref("AdjudicationLabel")},
    ("AdjudicationItemOutput", "consensus"): ref("AdjudicationConsensus", nullable=True),
    ("RewardPolicyOutput", "expected_cost_per_label"): ref("ExpectedCost"),
    ("OutsideTransfer", "transfers"): {"type": "array", "items": ref("OutsideTransferLine")},
}


def _keep_description(old: dict, new: dict) -> dict:
    if "description" in old and "description" not in new and "$ref" not in new:
        return {**new, "description": old["description"]}
    return new


def type_free_form_bodies(result, generator, request, public):
    """drf-spectacular postprocessing hook (after the batch record's and the label schema's
    components, before the examples are built): the components above, the bodies by operation
    and the fields by component."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in COMPONENTS.items():
        schemas.setdefault(name, schema)
    for (component, field), typed in FIELDS.items():
        properties = schemas.get(component, {}).get("properties", {})
        if field in properties:
            old = properties[field]
            typed = _keep_description(old, typed)
            if old.get("readOnly"):
                typed = {**typed, "readOnly": True}
            properties[field] = typed
    paths = result.get("paths", {})
    for (method, path, status), schema in BODIES.items():
        operation = paths.get(path, {}).get(method)
        if operation is None:
            continue
        response = operation.setdefault("responses", {}).setdefault(status, {"description": ""})
        content = response.setdefault("content", {})
        content.pop("application/json", None)
        content["application/json"] = {"schema": schema}
        if response.get("description") == "No response body":
            response["description"] = ""
    return result
