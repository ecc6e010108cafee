"""The runs REST API: one class per operation, nested Input/Output serializers, no rules.

Views call ``runs.services`` (writes) and ``runs.selectors`` (reads) only.
"""
