"""Guest images built from Debian packages (recipes' data under ``images/``), cache and import."""
