"""The admin API's services: resources, audit log and reports."""
