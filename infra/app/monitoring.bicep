@description('Name of the Log Analytics workspace.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region of both resources.')
param location string

@description('Tags put on both resources.')
param tags object

@description('Days that the workspace keeps its data.')
param retentionDays int

// Storage for Application Insights data and for the Key Vault audit log. Local authentication
// is off, so queries need an Entra ID sign-in and no workspace key can read the data.
resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionDays
    features: {
      disableLocalAuth: true
    }
  }
}

// Telemetry of the Functions host and of each validation. DisableLocalAuth rejects telemetry
// sent with only the instrumentation key, so only identities with Monitoring Metrics
// Publisher can write to it.
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output logAnalyticsWorkspaceId string = logAnalytics.id
output applicationInsightsName string = applicationInsights.name
