"""CaseRoom core, platform-neutral: it sees chat platforms and CRMs only through the two ports in integrations/."""

__version__ = "0.1.0"
