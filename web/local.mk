## web/local.mk - control panel and health dashboard assets, compiled into the binary.
## Nothing embedded yet: the pages arrive with the API/control panel work.
