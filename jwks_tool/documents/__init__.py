"""Documents people read: reports, settings snippets and guides rendered from the Jinja2 templates in ``templates/``."""
