"""The lab console: a lab's owners and members in the browser.

Server-rendered pages over the same services and selectors as the lab API: projects
(``annotate.services``), batches (``annotate.ingest``), progress (``annotate.progress``), the
quality report (``annotate.quality.report``), exports (``annotate.exports``), budget and reward
policies (``rewards``), webhooks (``rlhf_platform.webhooks``), keys and members
(``rlhf_platform.accounts``). Every page is under ``/labs/<slug>/`` and fetches the lab with
``access_lab_for_user``, so another lab's pages answer 404. Who may do what is in the role
table (``rlhf_platform/accounts/roles.py``): members view, create and edit projects and
upload; owners also manage keys, members, webhooks and reward policies.
"""
