"""Projects, batches, items, the assignment queue, labels, gold items, qualification exams,
agreement, consensus and annotator quality. May import ``rlhf_platform``; never ``rewards``."""
