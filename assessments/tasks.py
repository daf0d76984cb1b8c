import os
import socket

from celery import shared_task

from assessments.services import worker_heartbeat_record


@shared_task(name="assessments.tasks.record_worker_heartbeat", ignore_result=True)
def record_worker_heartbeat() -> None:
    """Beat sends this every minute; whichever worker takes it proves it is alive and reaching the DB."""
    hostname = getattr(record_worker_heartbeat.request, "hostname", None) or socket.gethostname()
    worker_heartbeat_record(hostname=hostname, pid=os.getpid())
