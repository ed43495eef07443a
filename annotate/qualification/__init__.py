"""Qualification exams: a set of gold questions an expert answers in sequence before a project
(or every project of a domain) that requires qualification serves them work."""
