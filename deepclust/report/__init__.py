"""A static, self-contained HTML report of a clustering run (`write_report`), for a person to open."""

from deepclust.report.html_report import write_report

__all__ = ["write_report"]
