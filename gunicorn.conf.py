"""Gunicorn's settings beyond the command line (docker-compose.yml and the Dockerfile name this file;
gunicorn also reads ./gunicorn.conf.py by itself when started from the repository's root).

Its access log writes each request line, and a magic link's request line carries the candidate's
token: the logger class below puts core.logs.RedactTokens on gunicorn's own loggers, so every line
reads /t/[redacted]/ whatever ``access_log_format`` says. Django's loggers get it from LOGGING.
"""

from gunicorn.glogging import Logger

from core.logs import RedactTokens


class RedactingLogger(Logger):
    def setup(self, cfg):
        super().setup(cfg)
        # setup() runs again on every reload (SIGHUP): one filter per logger, not one per reload.
        for log in (self.access_log, self.error_log):
            if not any(isinstance(f, RedactTokens) for f in log.filters):
                log.addFilter(RedactTokens())


logger_class = RedactingLogger
