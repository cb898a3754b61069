"""Turn stored rows and use-case results into response bodies, one module per route module
(docs/developing.md, "Rendering and access rules")."""
