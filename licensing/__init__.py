"""License service for ISV products on Dynamics 365 Finance and Operations."""
