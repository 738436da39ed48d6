{{ recon_decisions('projects_orders') }}
