# Import by the iLO's host (the provider's ilo.port is used) ...
terraform import infrabackup_ilo_custom_backup_restore.web01 web01-ilo.example.net

# ... or by host:port ([address]:port for IPv6).
terraform import infrabackup_ilo_custom_backup_restore.db01 10.0.20.31:8443
