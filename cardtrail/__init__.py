"""The assembly: where CardTrail's layers are put together into programs.

``cardtrail.app`` builds the web application, ``cardtrail.wsgi`` serves it under gunicorn,
``cardtrail.cli`` is the ``cardtrail`` command, ``cardtrail.run`` its ``up`` and ``deploy``
and ``cardtrail.worker_cli`` the standalone anchoring worker. Nothing below imports this
package: ``anchoring`` <- ``ledger_service`` <- ``portal`` <- ``cardtrail``.
"""
